// The harness's parts on their own: statistics, options, case planning,
// timing with queue markers on the CPU device, failure handling, the report.
import { describe, expect, it } from 'vitest';

import { compareBytes } from '../../bench/harness/compare.js';
import { createQueueHold } from '../../bench/harness/hold.js';
import {
  copyBytes,
  copyReadWriteBytes,
  gemmFlops,
  groupedGemmBytes,
  groupedGemmFlops,
  moeLayerBytes,
  moeLayerFlops,
} from '../../bench/harness/metrics.js';
import { parseBenchArgs, UsageError } from '../../bench/harness/options.js';
import { Progress } from '../../bench/harness/progress.js';
import { deriveSeed, randomBytes, uint32Generator } from '../../bench/harness/random.js';
import { collectSuites } from '../../bench/harness/registry.js';
import { renderSuite } from '../../bench/harness/report.js';
import { resultsFileName } from '../../bench/harness/results.js';
import { cacheBytes, MAX_ROTATION_SETS, pick, rotationSets } from '../../bench/harness/rotation.js';
import { planSuite, runSuites } from '../../bench/harness/runner.js';
import { geometricMean, quantile, summarize } from '../../bench/harness/stats.js';
import { timeCase } from '../../bench/harness/timing.js';
import { type BenchCase, type BenchSuite, benchCase } from '../../bench/harness/types.js';
import { device, type Tensor } from '../../lib/index.js';

const SEED = 20251124;
const cpu = device('cpu');

/** A stream that records what is written (not a TTY). */
function sink(): NodeJS.WritableStream & { text: string } {
  const s = { text: '', write(chunk: string) { s.text += chunk; return true; } };
  return s as unknown as NodeJS.WritableStream & { text: string };
}

describe('stats', () => {
  const next = uint32Generator(SEED);
  const samples = Array.from({ length: 101 }, () => 1 + next() / 2 ** 32);
  const sorted = [...samples].sort((a, b) => a - b);

  it(`summarizes to order statistics (seed ${SEED})`, () => {
    const s = summarize(samples);
    expect(s.count).toBe(101);
    expect(s.median).toBe(sorted[50]);
    expect(s.min).toBe(sorted[0]);
    expect(s.max).toBe(sorted[100]);
    expect(s.p10).toBe(sorted[10]);
    expect(s.p90).toBe(sorted[90]);
    expect(s.relIqr).toBeCloseTo((sorted[75]! - sorted[25]!) / sorted[50]!, 12);
    expect(s.mean).toBeCloseTo(samples.reduce((a, b) => a + b, 0) / 101, 12);
  });

  it('interpolates between ranks and is monotonic in q', () => {
    expect(quantile([1, 3], 0.5)).toBe(2);
    expect(quantile([5], 0.9)).toBe(5);
    let last = -Infinity;
    for (let q = 0; q <= 1; q += 0.05) {
      const v = quantile(sorted, q);
      expect(v).toBeGreaterThanOrEqual(last);
      last = v;
    }
    expect(() => quantile([], 0.5)).toThrow(RangeError);
    expect(() => quantile([1], 1.5)).toThrow(RangeError);
  });

  it('averages ratios geometrically', () => {
    expect(geometricMean([2, 8])).toBeCloseTo(4, 12);
    expect(geometricMean([3, 1 / 3])).toBeCloseTo(1, 12);
    expect(geometricMean([])).toBeUndefined();
    expect(() => geometricMean([1, 0])).toThrow(RangeError);
  });
});

describe('metrics', () => {
  it('counts GEMM FLOPs and copy bytes by their definitions', () => {
    expect(gemmFlops(3, 5, 7)).toBe(2 * 3 * 5 * 7);
    expect(copyBytes(1000)).toBe(1000);
    expect(copyReadWriteBytes(1000)).toBe(2000);
  });

  it('counts the grouped GEMM and the MoE layer on the rows experts compute', () => {
    // Empty experts add no FLOPs and no weight bytes.
    expect(groupedGemmFlops([3, 0, 5], 7, 11)).toBe(gemmFlops(8, 7, 11));
    expect(groupedGemmBytes([3, 0, 5], 7, 11, 2, 2, false)).toBe(2 * (8 * 11 + 2 * 7 * 11) + 2 * 8 * 7);
    // FP8: 1-byte codes plus f32 scales, 1x128 for x and 128x128 for each active expert's weights.
    expect(groupedGemmBytes([4, 4], 256, 384, 1, 2, true)).toBe(8 * 384 + 2 * 256 * 384 + 2 * 8 * 256 + 4 * (8 * 3 + 2 * 2 * 3));
    // Per pick W13 (2·H·2I) and W2 (2·I·H); per token the shared expert (6·H·Is).
    expect(moeLayerFlops(16, 2, 7168, 2048, 2048)).toBe(16 * (2 * 7168 * 4096 + 2 * 2048 * 7168) + 2 * 6 * 7168 * 2048);
    expect(moeLayerBytes(3, 2, 128, 64, 32, 2, false)).toBe(2 * 3 * 128 * (3 * 64 + 32) + 4 * 2 * 128);
    expect(moeLayerBytes(1, 1, 128, 128, 128, 1, true)).toBe(3 * 128 * 256 + (4 * 3 * 128 * 256) / (128 * 128) + 4 * 128);
  });
});

describe('random inputs', () => {
  it('are reproducible from the seed and the same prefix at every length', () => {
    const a = randomBytes(SEED, 1003);
    expect(randomBytes(SEED, 1003)).toEqual(a);
    expect(randomBytes(SEED, 17)).toEqual(a.subarray(0, 17));
    expect(randomBytes(SEED + 1, 1003)).not.toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(200);
    expect(deriveSeed(SEED, 'memory')).not.toBe(deriveSeed(SEED, 'fp8'));
  });
});

describe('compareBytes', () => {
  it('passes equal bytes and locates the first difference', () => {
    const a = randomBytes(SEED, 64);
    expect(compareBytes('x', a, a.slice()).passed).toBe(true);
    const b = a.slice();
    b[40] = (b[40]! + 1) % 256;
    b[50] = (b[50]! + 1) % 256;
    const r = compareBytes('x', b, a);
    expect(r.passed).toBe(false);
    expect(r.detail).toContain('2 of 64 bytes differ; first at byte 40');
    expect(compareBytes('x', a.subarray(0, 3), a).passed).toBe(false);
  });
});

describe('rotation', () => {
  it('cycles enough sets to span twice the cache, within the cap', () => {
    const cache = cacheBytes(cpu);
    expect(cache).toBeGreaterThan(0);
    expect(rotationSets(cpu, 4 * cache)).toBe(1);
    const size = Math.ceil(cache / 5);
    const sets = rotationSets(cpu, size);
    expect(sets * size).toBeGreaterThanOrEqual(2 * cache);
    expect((sets - 1) * size).toBeLessThan(2 * cache);
    expect(rotationSets(cpu, 1)).toBe(MAX_ROTATION_SETS);
    expect([0, 1, 2, 3, 4].map((i) => pick(['a', 'b', 'c'], i))).toEqual(['a', 'b', 'c', 'a', 'b']);
  });
});

describe('options', () => {
  const known = ['memory', 'fp8'];

  it('fills defaults, quick defaults and explicit values', () => {
    const full = parseBenchArgs([], known);
    expect(full).toMatchObject({ device: 'auto', suites: undefined, warmup: 3, repeats: 20, minTimeMs: 100, write: true, json: false });
    const quick = parseBenchArgs(['--quick', '--repeats', '7'], known);
    expect(quick).toMatchObject({ quick: true, warmup: 1, repeats: 7, minTimeMs: 0 });
    expect(parseBenchArgs(['--suite', 'fp8,memory', '--suite', 'fp8'], known).suites).toEqual(['fp8', 'memory']);
    expect(parseBenchArgs(['--no-write', '--min-time-ms', '2.5'], known)).toMatchObject({ write: false, minTimeMs: 2.5 });
  });

  it('matches cases by substring or /regex/', () => {
    const sub = parseBenchArgs(['--filter', '16MiB'], known).filter!;
    expect(sub.matches('d2d-16MiB')).toBe(true);
    expect(sub.matches('d2d-1MiB')).toBe(false);
    const re = parseBenchArgs(['--filter', '/^h2d-.*-1MiB$/'], known).filter!;
    expect(re.matches('h2d-pinned-1MiB')).toBe(true);
    expect(re.matches('h2d-pinned-16MiB')).toBe(false);
  });

  it('throws UsageError naming the option', () => {
    const bad: [string[], string][] = [
      [['--frobnicate'], "unknown option '--frobnicate'"],
      [['--suite', 'mla-decode'], "unknown suite 'mla-decode'"],
      [['--warmup=-1'], "--warmup must be an integer from 0 to 4294967295, got '-1'"],
      [['--warmup', '-1'], "option '--warmup' argument is ambiguous"],
      [['--repeats', '2.5'], '--repeats must be an integer'],
      [['--min-time-ms', 'soon'], "--min-time-ms must be a number ≥ 0, got 'soon'"],
      [['--filter', '/(/'], '--filter must be a valid /regex/flags'],
      [['stray'], "unexpected argument 'stray'"],
      [['--out', 'x', '--no-write'], '--out and --no-write'],
    ];
    for (const [args, text] of bad) {
      expect(() => parseBenchArgs(args, known), args.join(' ')).toThrow(UsageError);
      expect(() => parseBenchArgs(args, known), args.join(' ')).toThrow(text);
    }
  });
});

/** A case that records what the harness did with it. */
function probeCase(name: string, opts: { baseline?: string; ceiling?: string; checkPasses?: boolean; throwInRun?: boolean } = {}) {
  const log = { setups: 0, runs: [] as number[], teardowns: 0, outputs: [] as Tensor[], checks: 0 };
  const c = benchCase<Tensor<'u8'>>({
    name,
    params: { sizeBytes: 4096 },
    bytes: copyReadWriteBytes(4096),
    ...(opts.baseline ? { baseline: opts.baseline } : {}),
    ...(opts.ceiling ? { ceiling: opts.ceiling } : {}),
    setup() {
      log.setups++;
      return cpu.tensor(randomBytes(SEED, 4096));
    },
    run(src, repeat) {
      if (opts.throwInRun) throw new Error('run exploded');
      log.runs.push(repeat);
      const out = src.clone();
      log.outputs.push(out);
      return out;
    },
    ...(opts.checkPasses === undefined
      ? {}
      : {
          async check() {
            log.checks++;
            return { passed: opts.checkPasses!, detail: opts.checkPasses ? 'same' : 'byte 3 differs' };
          },
        }),
    teardown(src) {
      log.teardowns++;
      src.dispose();
    },
  });
  return { c, log };
}

describe('timeCase on the CPU device', () => {
  it('warms up, then times each repeat with queue markers and disposes the outputs', async () => {
    const hold = await createQueueHold(cpu);
    expect(hold.unitMs).toBeGreaterThan(0);
    const { c, log } = probeCase('probe');
    const src = c.setup() as Tensor<'u8'>;
    const t = await timeCase(cpu, c, src, { warmup: 2, repeats: 6, minTimeMs: 0 }, { hold });
    expect(log.runs).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(t.samplesMs).toHaveLength(6);
    expect(t.enqueueMs).toHaveLength(6);
    for (const s of t.samplesMs) expect(s).toBeGreaterThan(0);
    expect(log.outputs.every((o) => o.disposed)).toBe(true);
    c.teardown(src);
  });

  it('repeats until the minimum time is reached', async () => {
    const hold = await createQueueHold(cpu);
    const { c } = probeCase('probe');
    const src = c.setup() as Tensor<'u8'>;
    const t = await timeCase(cpu, c, src, { warmup: 0, repeats: 1, minTimeMs: 5 }, { hold });
    const total = t.samplesMs.reduce((a, b) => a + b, 0);
    expect(total >= 5 || t.samplesMs.length === 1000).toBe(true);
    expect(total - t.samplesMs[t.samplesMs.length - 1]!).toBeLessThan(5);
    c.teardown(src);
  });
});

describe('planning and running suites', () => {
  const suiteOf = (cases: BenchCase[]): BenchSuite => ({ name: 'probe', description: 'probe cases', cases: () => cases });

  it('keeps the baselines of the cases a filter selects', () => {
    const a = probeCase('pageable-1').c;
    const b = probeCase('pinned-1', { baseline: 'pageable-1' }).c;
    const other = probeCase('other').c;
    const filter = parseBenchArgs(['--filter', 'pinned'], ['probe']).filter;
    const plan = planSuite(suiteOf([a, b, other]), cpu, { quick: true, seed: SEED, filter });
    expect(plan.cases.map((c) => c.name)).toEqual(['pageable-1', 'pinned-1']);
  });

  it('rejects repeated case names and unknown baselines and ceilings', () => {
    const opts = { quick: true, seed: SEED, filter: undefined };
    expect(() => planSuite(suiteOf([probeCase('x').c, probeCase('x').c]), cpu, opts)).toThrow("two cases are named 'x'");
    expect(() => planSuite(suiteOf([probeCase('x', { baseline: 'y' }).c]), cpu, opts)).toThrow("baseline 'y'");
    expect(() => planSuite(suiteOf([probeCase('x', { ceiling: 'y' }).c]), cpu, opts)).toThrow("ceiling 'y'");
  });

  it('keeps the ceiling of a selected case, adds the notes for the run, and reports GB/s as a fraction of the ceiling', async () => {
    const copy = probeCase('copy');
    const kernel = probeCase('kernel', { ceiling: 'copy' });
    const other = probeCase('other');
    const suite: BenchSuite = { ...suiteOf([copy.c, kernel.c, other.c]), notes: ['fixed'], contextNotes: (ctx) => [`on ${ctx.device.kind}`] };
    const filter = parseBenchArgs(['--filter', 'kernel'], ['probe']).filter;
    const plan = planSuite(suite, cpu, { quick: true, seed: SEED, filter });
    expect(plan.cases.map((c) => c.name)).toEqual(['copy', 'kernel']);
    expect(plan.notes).toEqual(['fixed', 'on cpu']);
    const [result] = await runSuites([plan], cpu, { warmup: 1, repeats: 3, minTimeMs: 0, quick: true, seed: SEED, filter }, new Progress(sink(), 4));
    const [c, k] = result!.cases;
    expect(c!.ofCeiling).toBeNull();
    expect(k!.ceiling).toBe('copy');
    expect(k!.ofCeiling).toBeCloseTo(k!.gbps! / c!.gbps!, 12);
    expect(result!.notes).toEqual(['fixed', 'on cpu']);
    const text = renderSuite(result!).join('\n');
    expect(text).toContain('of ceiling');
    expect(text).toContain('note: on cpu');
  });

  it('does not time a case whose check fails, reports errors, always tears down, and computes ×baseline', async () => {
    const base = probeCase('base', { checkPasses: true });
    const fast = probeCase('fast', { baseline: 'base' });
    const wrong = probeCase('wrong', { checkPasses: false });
    const broken = probeCase('broken', { throwInRun: true });
    const plan = planSuite(suiteOf([base.c, fast.c, wrong.c, broken.c]), cpu, { quick: true, seed: SEED, filter: undefined });
    const err = sink();
    const [suite] = await runSuites([plan], cpu, { warmup: 1, repeats: 3, minTimeMs: 0, quick: true, seed: SEED, filter: undefined }, new Progress(err, 4));
    const byName = new Map(suite!.cases.map((c) => [c.name, c]));

    expect(byName.get('base')!.check.status).toBe('passed');
    expect(byName.get('base')!.status).toBe('ok');
    expect(byName.get('wrong')!.status).toBe('failed');
    expect(byName.get('wrong')!.error).toContain(`byte 3 differs (--seed ${SEED}, suite seed ${plan.seed})`);
    expect(byName.get('wrong')!.samplesMs).toEqual([]);
    expect(wrong.log.runs).toEqual([]);
    expect(byName.get('broken')!.error).toContain('run exploded');
    for (const p of [base, fast, wrong, broken]) expect(p.log.teardowns).toBe(p.log.setups);

    const ratio = byName.get('base')!.stats!.median / byName.get('fast')!.stats!.median;
    expect(byName.get('fast')!.vsBaseline).toBeCloseTo(ratio, 12);
    expect(suite!.geomeanVsBaseline).toBeCloseTo(ratio, 12);
    expect(suite!.geomeanCount).toBe(1);
    for (const c of suite!.cases) expect(c.warnings.filter((w) => w.includes('still alive'))).toEqual([]);

    const progressLines = err.text.trim().split('\n');
    expect(progressLines).toHaveLength(4);
    expect(progressLines[2]).toMatch(/^\[3\/4\] probe\/wrong {2}FAILED: check failed/);

    const text = renderSuite(suite!).join('\n');
    expect(text).toContain('×baseline');
    expect(text).toMatch(/geomean ×baseline: \d+\.\d+× over 1 case$/m);
    expect(text).toContain('FAILED probe/broken: run exploded');
  });
});

describe('registry and results file', () => {
  it('collects suites sorted by name and rejects what is not one', () => {
    const s = (name: string): BenchSuite => ({ name, description: name, cases: () => [] });
    expect(collectSuites({ b: s('moe'), a: s('fp8') }).map((x) => x.name)).toEqual(['fp8', 'moe']);
    expect(() => collectSuites({ x: 42 })).toThrow("export 'x' must be a suite");
    expect(() => collectSuites({ a: s('FP8') })).toThrow('suite name must be');
    expect(() => collectSuites({ a: s('fp8'), b: s('fp8') })).toThrow("two suites are named 'fp8'");
  });

  it('names results by UTC date, device and time', () => {
    expect(resultsFileName('cuda:1', new Date(Date.UTC(2025, 0, 2, 3, 4, 5)))).toBe('2025-01-02-cuda-1-030405.json');
  });
});
