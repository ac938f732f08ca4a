// The compiled runner (`npm run bench`), end to end on the CPU device:
// exit codes, the printed table, the results file. The CUDA block runs the
// memory suite on a GPU when there is one.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { formatMicros } from '../../bench/harness/format.js';
import { resultsFileName, type BenchResults } from '../../bench/harness/results.js';
import { cudaStatus } from '../../lib/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const runner = join(root, 'dist', 'bench', 'run.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function bench(...args: string[]): Run {
  const env = { ...process.env };
  delete env.MOEKIT_DEVICE;
  const r = spawnSync(process.execPath, [runner, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectedCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const tmpDirs: string[] = [];
function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'moekit-bench-'));
  tmpDirs.push(dir);
  return dir;
}

beforeAll(() => {
  // The runner is the compiled one; compile when the sources are newer.
  const built = existsSync(runner) ? statSync(runner).mtimeMs : 0;
  if (built < Math.max(newestSource(join(root, 'bench')), newestSource(join(root, 'lib')))) {
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  }
});

afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe('bench runner on the CPU device', () => {
  let out: string;
  let run: Run;
  let results: BenchResults;
  let fileName: string;

  beforeAll(() => {
    out = tmp();
    run = bench('--device', 'cpu', '--suite', 'memory', '--quick', '--out', out);
    const files = readdirSync(out);
    expect(files, `stderr: ${run.stderr}`).toHaveLength(1);
    fileName = files[0]!;
    results = JSON.parse(readFileSync(join(out, fileName), 'utf8')) as BenchResults;
  });

  it('exits 0 and prints a table per suite', () => {
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('case '));
    expect(header).toBeDefined();
    for (const col of ['params', 'median µs', 'p10–p90 µs', 'min–max µs', 'IQR', 'GB/s', 'check']) expect(header).toContain(col);
    // no flops and no baselines on the CPU device: those columns are left out
    expect(header).not.toContain('TFLOP/s');
    expect(header).not.toContain('×baseline');
    expect(run.stdout).toContain('memory: ');
    expect(run.stdout).toContain('geomean ×baseline: n/a');
    for (const c of results.suites[0]!.cases) {
      const row = lines.find((l) => l.startsWith(`${c.name} `));
      expect(row, `row of ${c.name}`).toBeDefined();
      expect(row).toContain(formatMicros(c.stats!.median));
      expect(row).toContain('passed');
      expect(row).toContain('traffic=read+write');
    }
  });

  it('reports one progress line per case on a non-TTY stderr', () => {
    const lines = run.stderr.split('\n').filter((l) => /^\[\d+\/\d+\] /.test(l));
    expect(lines.map((l) => /^\[\d+\/\d+\] (\S+)/.exec(l)![1])).toEqual(['memory/memcpy-1MiB', 'memory/memcpy-16MiB']);
    expect(run.stderr).not.toContain('\x1b[');
  });

  it('names the results file by date, device and time of the run', () => {
    expect(fileName).toMatch(/^\d{4}-\d{2}-\d{2}-cpu-\d{6}\.json$/);
    expect(fileName).toBe(resultsFileName('cpu', new Date(results.timestamp)));
  });

  it('records the machine, the build and the revision', () => {
    expect(results.schema).toBe('moekit-bench/1');
    expect(results.node).toBe(process.version);
    expect(results.device.id).toBe('cpu');
    expect(typeof results.device.name).toBe('string');
    expect(results.device.totalMemory).toBeGreaterThan(0);
    expect(typeof results.cudaStatus.driverVersion).toBe('number');
    expect(typeof results.cudaStatus.runtimeVersion).toBe('number');
    expect(typeof results.build.napiVersion).toBe('number');
    expect(results.commandLine).toEqual(['node', 'dist/bench/run.js', '--device', 'cpu', '--suite', 'memory', '--quick', '--out', out]);
    const commit = expectedCommit();
    expect(results.git.commit).toBe(commit);
    if (commit !== null) expect(typeof results.git.dirty).toBe('boolean');
    expect(results.options).toMatchObject({ quick: true, warmup: 1, repeats: 5, suites: ['memory'] });
    expect(results.timing.holdUnitMs).toBeGreaterThan(0);
    expect(results.timing.l2FlushBytes).toBeNull();
  });

  it('keeps every sample and summarizes them per case', () => {
    const suite = results.suites[0]!;
    expect(suite.name).toBe('memory');
    expect(suite.cases.map((c) => c.name)).toEqual(['memcpy-1MiB', 'memcpy-16MiB']);
    for (const c of suite.cases) {
      expect(c.status, c.error ?? '').toBe('ok');
      expect(c.check.status).toBe('passed');
      expect(c.samplesMs.length).toBeGreaterThanOrEqual(5);
      expect(c.enqueueMs).toHaveLength(c.samplesMs.length);
      for (const s of c.samplesMs) {
        expect(Number.isFinite(s)).toBe(true);
        expect(s).toBeGreaterThan(0);
      }
      const st = c.stats!;
      expect(st.count).toBe(c.samplesMs.length);
      expect(st.min).toBe(Math.min(...c.samplesMs));
      expect(st.max).toBe(Math.max(...c.samplesMs));
      expect(st.min).toBeLessThanOrEqual(st.p10);
      expect(st.p10).toBeLessThanOrEqual(st.median);
      expect(st.median).toBeLessThanOrEqual(st.p90);
      expect(st.p90).toBeLessThanOrEqual(st.max);
      expect(c.bytes).toBe(2 * (c.params.sizeBytes as number));
      expect(c.gbps).toBeCloseTo(c.bytes! / st.median / 1e6, 6);
      expect(c.flops).toBeNull();
      expect(c.tflops).toBeNull();
    }
  });
});

describe('bench runner options', () => {
  it('--json prints the results instead of the table; --no-write writes nothing; --filter takes a regex', () => {
    const cwd = tmp();
    const r = spawnSync(process.execPath, [runner, '--device', 'cpu', '--quick', '--json', '--no-write', '--filter', '/^memcpy-16/'], {
      cwd,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as BenchResults;
    expect(results.options.filter).toBe('/^memcpy-16/');
    expect(results.suites.flatMap((s) => s.cases.map((c) => c.name))).toEqual(['memcpy-16MiB']);
    expect(readdirSync(cwd)).toEqual([]);
    expect(r.stderr).not.toContain('results: ');
  });

  it('runs the moe suite on the CPU device: routing, grouped GEMMs and layers at reduced sizes, bytes counted once routed', () => {
    const r = bench('--device', 'cpu', '--suite', 'moe', '--quick', '--json', '--no-write');
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as BenchResults;
    const cases = results.suites[0]!.cases;
    expect(cases.map((c) => c.name)).toEqual([
      'route-cpu-T1',
      'route-cpu-T16',
      'grouped-moekit-cpu-bf16-e4x64-n256-k512',
      'grouped-moekit-cpu-fp8-e4x64-n256-k512',
      'grouped-moekit-cpu-bf16-e16x8-n256-k512',
      'grouped-moekit-cpu-fp8-e16x8-n256-k512',
      'layer-moekit-cpu-bf16-T1',
      'layer-moekit-cpu-fp8-T1',
      'layer-moekit-cpu-bf16-T16',
      'layer-moekit-cpu-fp8-T16',
    ]);
    for (const c of cases) {
      expect(c.status, `${c.name}: ${c.error}`).toBe('ok');
      expect(c.bytes, c.name).toBeGreaterThan(0);
      expect(c.warnings.filter((w) => w.includes('still alive')), c.name).toEqual([]);
      if (!c.name.startsWith('route-')) expect(c.flops, c.name).toBeGreaterThan(0);
    }
    expect(results.suites[0]!.notes.join('\n')).toContain('On the CPU device');
  });

  it('runs the mla suite on the CPU device: a copy, decode and prefill at reduced sizes, baselines left out with the reason', () => {
    const r = bench('--device', 'cpu', '--suite', 'mla', '--quick', '--json', '--no-write');
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as BenchResults;
    const suite = results.suites[0]!;
    expect(suite.name).toBe('mla');
    expect(suite.cases.map((c) => c.name)).toEqual([
      'copy-memcpy-64MiB',
      'decode-cpu-bf16-B1-Sk256-H16-Sq1',
      'decode-cpu-e4m3-B1-Sk256-H16-Sq1',
      'prefill-cpu-S64',
    ]);
    for (const c of suite.cases) {
      expect(c.status, `${c.name}: ${c.error}`).toBe('ok');
      expect(c.baseline, c.name).toBeNull();
      expect(c.warnings.filter((w) => w.includes('still alive')), c.name).toEqual([]);
    }
    for (const c of suite.cases.filter((x) => x.name.startsWith('decode-'))) {
      expect(c.ceiling).toBe('copy-memcpy-64MiB');
      expect(c.ofCeiling, c.name).toBeGreaterThan(0);
    }
    expect(suite.cases[3]!.params.peakBytes).toBe(64 * 4 * 128 * 2 + 4 * 64 * 4);
    const notes = suite.notes.join('\n');
    expect(notes).toContain('On the CPU device, decode');
    expect(notes).toContain('On the CPU device, prefill');
    expect(notes).toContain('Baseline unavailable, its rows and ×baseline left out');
  });

  it('--list lists the suites and their cases without running them', () => {
    const r = bench('--device', 'cpu', '--list');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^memory: /m);
    for (const size of ['1MiB', '16MiB', '256MiB', '1GiB']) expect(r.stdout).toContain(`  memcpy-${size}  `);
    expect(r.stderr).toBe('');
  });

  it('rejects an unknown option with exit code 2', () => {
    const r = bench('--device', 'cpu', '--bogus');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown option '--bogus'");
    expect(r.stdout).toBe('');
  });

  it('rejects an unknown suite with exit code 2, naming the known ones', () => {
    const r = bench('--device', 'cpu', '--suite', 'memory,nope');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown suite 'nope'");
    expect(r.stderr).toContain("'memory'");
  });

  it('rejects a bad value and an unusable device with exit code 2', () => {
    const repeats = bench('--device', 'cpu', '--repeats', '0');
    expect(repeats.status).toBe(2);
    expect(repeats.stderr).toContain("--repeats must be an integer from 1 to 4294967295, got '0'");
    const dev = bench('--device', 'tpu');
    expect(dev.status).toBe(2);
    expect(dev.stderr).toContain("--device 'tpu' is not usable");
  });
});

const cuda = cudaStatus();

describe.skipIf(!cuda.available)(`bench runner on cuda${cuda.available ? '' : ` (skipped: ${cuda.reason})`}`, () => {
  it('times every copy direction, checks the data and compares pinned with pageable', () => {
    const r = bench('--device', 'cuda', '--suite', 'memory', '--quick', '--json', '--no-write');
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as BenchResults;
    expect(results.device.kind).toBe('cuda');
    expect(results.timing.l2FlushBytes).toBeGreaterThanOrEqual(2 * (results.device.l2Bytes ?? 0));
    const cases = results.suites[0]!.cases;
    for (const prefix of ['h2d-pageable-', 'h2d-pinned-', 'd2h-pageable-', 'd2h-pinned-', 'd2d-']) {
      expect(cases.some((c) => c.name.startsWith(prefix)), prefix).toBe(true);
    }
    for (const c of cases) {
      expect(c.status, `${c.name}: ${c.error ?? ''}`).toBe('ok');
      expect(c.check.status).toBe('passed');
      expect(c.gbps).toBeGreaterThan(0);
      if (c.params.host === 'pinned') expect(c.vsBaseline).toBeGreaterThan(0);
    }
    expect(results.suites[0]!.geomeanVsBaseline).toBeGreaterThan(0);
  });
});
