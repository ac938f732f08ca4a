/**
 * Running moekit in a separate Node process: for what a process reads once
 * at start-up (environment variables) and for importing the built package
 * the way users do.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The built entry point, `dist/lib/index.js`; throws when it was not built. */
export function builtEntry(): string {
  const entry = fileURLToPath(new URL('../../dist/lib/index.js', import.meta.url));
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build the package first (npm run build)`);
  return entry;
}

/** What a child process did. */
export interface ChildResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `source` as an ES module in a new Node process.
 * @param env - variables added to this process's environment (undefined removes one).
 * @param cwd - working directory (bare imports resolve from here); default the repository root.
 */
export function runModule(source: string, env: Record<string, string | undefined> = {}, cwd = REPO_ROOT): ChildResult {
  const merged: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', source], { cwd, env: merged, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs `body` (an async function body that may use `m`, the built moekit
 * module, and returns a JSON-serializable value) in a new Node process and
 * returns what it returned. A throw inside `body` fails with its message.
 */
export function evalInChild<T>(body: string, env: Record<string, string | undefined> = {}): T {
  const source = [
    `const m = await import(${JSON.stringify(builtEntry())});`,
    `const out = await (async () => { ${body} })();`,
    'process.stdout.write(JSON.stringify(out));',
  ].join('\n');
  const r = runModule(source, env);
  if (r.status !== 0) throw new Error(`child process exited with ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
