// The tests that import the built package (tests/helpers/child.ts) test what
// lib/ says now: dist/ is rebuilt before the run when a source is newer than
// its output (tests/setup/fresh_dist.ts), and npm test builds first.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { REPO_ROOT } from '../helpers/child.js';
import { ensureFreshDist, staleOutputs, staleText } from '../helpers/dist.js';

describe('dist/ is the build of the sources', () => {
  it('no output under dist/ is missing or older than its source in lib/ or bench/', () => {
    const stale = staleOutputs(REPO_ROOT);
    expect(stale, `dist/ is out of date:\n${staleText(stale)}`).toEqual([]);
  });
});

describe('staleness, in a made-up package', () => {
  const root = mkdtempSync(join(tmpdir(), 'moekit-dist-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, seconds: number) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), '');
    utimesSync(join(root, path), seconds, seconds);
  };

  it('finds missing and older outputs, in subfolders too; declaration sources need none', () => {
    write('lib/a.ts', 100);
    write('dist/lib/a.js', 200);
    write('lib/sub/b.ts', 300);
    write('dist/lib/sub/b.js', 200);
    write('bench/c.ts', 100);
    write('lib/types.d.ts', 500);
    expect(staleOutputs(root)).toEqual([
      { source: join('lib', 'sub', 'b.ts'), output: join('dist', 'lib', 'sub', 'b.js'), why: 'older' },
      { source: join('bench', 'c.ts'), output: join('dist', 'bench', 'c.js'), why: 'missing' },
    ]);
  });

  it('rebuilds when stale, and fails naming the outputs when the build fails or leaves them stale', () => {
    const builds: string[] = [];
    const fix = (r: string) => {
      builds.push(r);
      write('dist/lib/sub/b.js', 400);
      write('dist/bench/c.js', 400);
      return { status: 0, output: '' };
    };
    expect(ensureFreshDist(root, fix).map((s) => s.source)).toEqual([join('lib', 'sub', 'b.ts'), join('bench', 'c.ts')]);
    expect(builds).toEqual([root]);
    expect(ensureFreshDist(root, fix)).toEqual([]);
    expect(builds).toHaveLength(1);
    write('lib/a.ts', 900);
    expect(() => ensureFreshDist(root, () => ({ status: 2, output: "lib/a.ts(1,1): error TS1005: ';' expected." }))).toThrow(
      /rebuilding it \(tsc -p tsconfig.json\) failed with 2:\nlib\/a.ts\(1,1\): error TS1005.*\n {2}dist\/lib\/a.js is older than lib\/a.ts/s,
    );
    expect(() => ensureFreshDist(root, () => ({ status: 0, output: '' }))).toThrow('dist/ is still out of date after tsc -p tsconfig.json:\n  dist/lib/a.js is older than lib/a.ts');
  });
});
