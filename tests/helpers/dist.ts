/**
 * Whether dist/ is the build of the sources as they are now. Tests that
 * import the built package (tests/helpers/child.ts: evalInChild, builtEntry)
 * would otherwise test whatever was built last; tests/setup/fresh_dist.ts
 * rebuilds before any test runs when a source is newer than its output.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The source folders tsconfig.json compiles into dist/. */
export const BUILT_FOLDERS = ['lib', 'bench'] as const;

/** A source whose compiled output is missing or older than it. */
export interface StaleOutput {
  /** Relative to the root, e.g. `lib/device.ts`. */
  readonly source: string;
  /** e.g. `dist/lib/device.js`. */
  readonly output: string;
  readonly why: 'missing' | 'older';
}

function sources(root: string, folder: string): string[] {
  const dir = join(root, folder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(folder, f));
}

/** Every `.ts` under lib/ and bench/ of `root` whose `dist/…/.js` is missing or older than it. */
export function staleOutputs(root: string, folders: readonly string[] = BUILT_FOLDERS): StaleOutput[] {
  const stale: StaleOutput[] = [];
  for (const folder of folders) {
    for (const source of sources(root, folder)) {
      const output = join('dist', source.replace(/\.ts$/, '.js'));
      const out = join(root, output);
      if (!existsSync(out)) stale.push({ source, output, why: 'missing' });
      else if (statSync(join(root, source)).mtimeMs > statSync(out).mtimeMs) stale.push({ source, output, why: 'older' });
    }
  }
  return stale;
}

/** One line per stale output, at most `limit`. */
export function staleText(stale: readonly StaleOutput[], limit = 5): string {
  const lines = stale.slice(0, limit).map((s) => `  ${s.output} is ${s.why === 'missing' ? 'missing' : `older than ${s.source}`}`);
  if (stale.length > limit) lines.push(`  ... and ${stale.length - limit} more`);
  return lines.join('\n');
}

/** Runs `tsc -p tsconfig.json` in `root`; returns its exit status and output. */
export function buildDist(root: string): { status: number | null; output: string } {
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  return { status: r.error ? null : r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/**
 * Makes dist/ the build of the sources of `root`: rebuilds when any output
 * is stale and throws when the build fails or leaves one stale.
 * @returns the outputs that were stale before (empty when none was).
 */
export function ensureFreshDist(root: string, build: (root: string) => { status: number | null; output: string } = buildDist): StaleOutput[] {
  const stale = staleOutputs(root);
  if (stale.length === 0) return stale;
  const r = build(root);
  if (r.status !== 0) {
    throw new Error(`dist/ is out of date and rebuilding it (tsc -p tsconfig.json) failed with ${r.status}:\n${r.output}\n${staleText(stale)}`);
  }
  const still = staleOutputs(root);
  if (still.length > 0) throw new Error(`dist/ is still out of date after tsc -p tsconfig.json:\n${staleText(still)}`);
  return stale;
}
