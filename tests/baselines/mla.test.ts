// The unfused MLA baselines (lib/baselines.ts: mlaDecode, mlaPrefill): what
// they report and throw where cuBLAS or a GPU is missing, their checks of
// the operands and of the host lengths (the same everywhere), their
// workspace sizes, their own steps (gather, masked softmax, key assembly:
// moekit kernels) on every test device against float64 references, and on
// a GPU with cuBLAS their results against float64 oracles and moekit's own
// mla.prefill.
import { describe, expect, it } from 'vitest';

import { type Device, type Tensor, UnsupportedError, baselines, device, mla } from '../../lib/index.js';
import { expectClose } from '../helpers/close.js';
import { cudaDevice, cudaSkipReason, testDevices } from '../helpers/devices.js';
import { MLA, naiveAttention } from '../helpers/mla_prefill_oracle.js';
import { rng } from '../helpers/rng.js';
import { type ErrorClass, expectThrow } from '../helpers/throws.js';

const cpu = device('cpu');
const gpu = cudaDevice();
const initial = baselines.status();
const onGpu = gpu ? baselines.status(gpu) : undefined;
const ROW = 576;

const skipNote = (reason: string) => (reason ? ` (skipped: ${reason})` : '');

/** bf16 tensor of random values in [lo, hi] on `dev`, and its values as stored. */
async function bf16Random(dev: Device, shape: number[], stream: string, lo = -1, hi = 1): Promise<[Tensor, Float32Array]> {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = dev.tensor(rng(stream).uniformArray(n, lo, hi), { shape, dtype: 'bf16' });
  return [t, (await t.toArray()) as Float32Array];
}

/** Valid decode operands on `dev`: B = 2, Sq = 2, H = 3, 2 pages of 4 rows each, 3 blocks. */
function decodeArgs(dev: Device) {
  return {
    q: dev.zeros([2, 2, 3, ROW], 'bf16'),
    cache: dev.zeros([3, 4, ROW], 'bf16'),
    blockTable: dev.tensor(new Int32Array([0, 1, 2, 0]), { shape: [2, 2], dtype: 'i32' }),
    seqLens: [5, 8],
    softmaxScale: 0.1,
  };
}

/** Valid prefill operands on `dev`: T = 5 (sequences 2 and 3), H = 2. */
function prefillArgs(dev: Device) {
  return {
    q: dev.zeros([5, 2, MLA.qk], 'bf16'),
    latent: dev.zeros([5, MLA.latent], 'bf16'),
    kRope: dev.zeros([5, MLA.rope], 'bf16'),
    wkvB: dev.zeros([2 * MLA.wkvRows, MLA.latent], 'bf16'),
    seqLens: [2, 3],
    softmaxScale: 0.1,
  };
}

describe('status', () => {
  it('reports the MLA baselines and cublasGemmStridedBatchedEx', () => {
    const s = baselines.status();
    expect(s.mla.available).toBe(s.mla.reason === '');
    expect(typeof s.cublas.stridedBatchedEx).toBe('boolean');
    if (!s.available) expect(s.mla.reason).toBe(s.reason);
    else if (!s.cublas.available) expect(s.mla.reason).toBe(s.cublas.reason);
    if (!s.cublas.available) expect(s.cublas.stridedBatchedEx).toBe(false);
  });
});

describe('without cuBLAS', () => {
  it.skipIf(initial.available)(`calls throw UnsupportedError naming the fix${skipNote(initial.available ? 'cuBLASLt is installed here' : '')}`, () => {
    const d = expectThrow(() => baselines.mlaDecode(decodeArgs(cpu)), UnsupportedError, /^baselines\.mlaDecode: /);
    expect(d.message).toContain(initial.reason);
    const p = expectThrow(() => baselines.mlaPrefill(prefillArgs(cpu)), UnsupportedError, /^baselines\.mlaPrefill: /);
    expect(p.message).toContain(initial.reason);
  });

  it.skipIf(!initial.mla.available && !initial.available)(`with cuBLAS, tensors on the CPU are refused${skipNote(initial.available ? '' : 'cuBLASLt is not installed here')}`, () => {
    if (!baselines.status(cpu).cublas.available) return;
    expectThrow(
      () => baselines.mlaDecode(decodeArgs(cpu)),
      UnsupportedError,
      "baselines.mlaDecode: the cuBLAS baselines run on CUDA devices, not on cpu; move the tensors with .to('cuda')",
    );
  });
});

describe('bad arguments (checked before cuBLAS is looked for)', () => {
  it('mlaDecode: dtypes, shapes, block table, host lengths, options', () => {
    const op = 'baselines.mlaDecode';
    const a = decodeArgs(cpu);
    const run = (patch: Record<string, unknown>) => () => baselines.mlaDecode({ ...a, ...patch } as never);
    const cases: Array<[() => unknown, ErrorClass, string | RegExp]> = [
      [run({ q: cpu.zeros([2, 2, 3, ROW], 'f16') }), TypeError, `${op}: q.dtype must be 'bf16', got 'f16'`],
      [run({ q: cpu.zeros([2, 2, 3, 512], 'bf16') }), RangeError, `${op}: q.shape must be [B, Sq, H, 576] (absorbed q_nope 512 | q_rope 64 per head), got [2, 2, 3, 512]`],
      [run({ cache: cpu.zeros([3, 4, 512], 'bf16') }), RangeError, `${op}: cache.shape must be [blocks, pageSize, 576] (latent 512 | kRope 64 per row), got [3, 4, 512]`],
      [run({ blockTable: cpu.zeros([2, 2], 'f32') }), TypeError, `${op}: blockTable.dtype must be 'i32', got 'f32'`],
      [run({ blockTable: cpu.zeros([3, 2], 'i32') }), RangeError, `${op}: blockTable.shape must be [2, maxPages] (a row per batch entry of q), got [3, 2]`],
      [run({ seqLens: [5] }), RangeError, `${op}: seqLens.length must be 2 (B, the rows of blockTable), got 1`],
      [run({ seqLens: [5, 9] }), RangeError, `${op}: seqLens[1] must be at most 8 (maxPages 2 x pageSize 4), got 9`],
      [run({ seqLens: [5, 1.5] }), RangeError, `${op}: seqLens[1] must be a non-negative integer, got 1.5`],
      [run({ seqLens: 7 }), TypeError, `${op}: seqLens must be an array of integers, got a number (7)`],
      [run({ softmaxScale: Number.NaN }), RangeError, `${op}: softmaxScale must be a finite number, got NaN`],
      [run({ causal: 1 }), TypeError, `${op}: causal must be a boolean, got a number (1)`],
      [run({ cachee: 1 }), TypeError, /^baselines\.mlaDecode: args has an unknown key 'cachee' \(did you mean 'cache'\?\)/],
    ];
    for (const [fn, cls, message] of cases) expectThrow(fn, cls, message);
  });

  it('mlaPrefill: dtypes, shapes, lengths summing to T, options', () => {
    const op = 'baselines.mlaPrefill';
    const a = prefillArgs(cpu);
    const run = (patch: Record<string, unknown>) => () => baselines.mlaPrefill({ ...a, ...patch } as never);
    const cases: Array<[() => unknown, ErrorClass, string]> = [
      [run({ latent: cpu.zeros([5, MLA.latent], 'f32') }), TypeError, `${op}: latent.dtype must be 'bf16', got 'f32'`],
      [run({ q: cpu.zeros([5, 2, 128], 'bf16') }), RangeError, `${op}: q.shape must be [T, H, 192] (q_nope 128 | q_rope 64 per head), got [5, 2, 128]`],
      [run({ latent: cpu.zeros([4, MLA.latent], 'bf16') }), RangeError, `${op}: latent.shape must be [5, 512] ([T, 512] for T = 5 tokens of q), got [4, 512]`],
      [run({ wkvB: cpu.zeros([256, MLA.latent], 'bf16') }), RangeError, `${op}: wkvB.shape must be [512, 512] ([H * 256, 512] for H = 2 heads of q), got [256, 512]`],
      [run({ seqLens: [2, 2] }), RangeError, `${op}: seqLens must be lengths summing to T = 5 (the tokens of q), got a sum of 4`],
      [run({ seqLens: [2, -3] }), RangeError, `${op}: seqLens[1] must be a non-negative integer, got -3`],
      [run({ softmaxScale: Infinity }), RangeError, `${op}: softmaxScale must be a finite number, got Infinity`],
    ];
    for (const [fn, cls, message] of cases) expectThrow(fn, cls, message);
  });

  it('the steps: shapes and lengths', () => {
    expectThrow(
      () => baselines.mlaSoftmax(cpu.zeros([1, 6, 4], 'f32'), { lengths: [5], heads: 2, queries: 3, softmaxScale: 1 }),
      RangeError,
      'baselines.mlaSoftmax: lengths[0] must be at most 4 (C, the columns of scores), got 5',
    );
    expectThrow(
      () => baselines.mlaSoftmax(cpu.zeros([1, 6, 4], 'f32'), { lengths: [4], heads: 2, queries: 2, softmaxScale: 1 }),
      RangeError,
      /^baselines\.mlaSoftmax: scores\.shape must be \[N, 2 \* 2, C\]/,
    );
    expectThrow(() => baselines.mlaAssembleKeys(cpu.zeros([3, 300], 'bf16'), cpu.zeros([3, 64], 'bf16')), RangeError, /^baselines\.mlaAssembleKeys: kv\.shape must be \[T, H \* 256\]/);
    expectThrow(() => baselines.mlaGather(cpu.zeros([3, 4, ROW], 'bf16'), cpu.zeros([1, 1], 'i32'), [5]), RangeError, /seqLens\[0\] must be at most 4/);
  });
});

describe('workspace', () => {
  it('decode: gathered cache, scores and probabilities', () => {
    expect(baselines.mlaDecodeWorkspaceBytes({ batch: 2, seqQ: 2, heads: 3, seqLens: [5, 8] })).toBe(2 * 8 * ROW * 2 + 2 * 6 * 8 * 6);
    expect(baselines.mlaDecodeWorkspaceBytes({ batch: 0, seqQ: 1, heads: 128, seqLens: [] })).toBe(0);
  });

  it('prefill: K and V, the keys, one sequence of scores at the longest S', () => {
    const [h, lens] = [128, [512, 4096]];
    const t = 4608;
    expect(baselines.mlaPrefillWorkspaceBytes({ heads: h, seqLens: lens })).toBe(t * h * 256 * 2 + t * h * 192 * 2 + h * 4096 * 4096 * 6);
  });
});

// ---- The steps, on every device (the emulated GPU included) -----------------------

/** Reference gather: rows of the pages in order, zero past the length, NaN for a page outside the cache. */
function gatherReference(cache: Float32Array, blocks: number, page: number, table: Int32Array, maxPages: number, lens: number[]): Float32Array {
  const maxLen = Math.max(0, ...lens);
  const out = new Float32Array(lens.length * maxLen * ROW);
  lens.forEach((len, b) => {
    for (let j = 0; j < len; j++) {
      const p = table[b * maxPages + Math.floor(j / page)]!;
      for (let c = 0; c < ROW; c++) out[(b * maxLen + j) * ROW + c] = p < 0 || p >= blocks ? NaN : cache[(p * page + (j % page)) * ROW + c]!;
    }
  });
  return out;
}

/** Float64 masked softmax: probabilities [N, rows, C] and lse [N, H, Sq]. */
function softmaxReference(scores: Float32Array, n: number, heads: number, queries: number, cols: number, lens: number[], headMajor: boolean, scale: number, causal: boolean) {
  const rows = heads * queries;
  const probs = new Float64Array(n * rows * cols);
  const lse = new Float64Array(n * heads * queries);
  for (let e = 0; e < n; e++) {
    for (let r = 0; r < rows; r++) {
      const [h, s] = headMajor ? [Math.floor(r / queries), r % queries] : [r % heads, Math.floor(r / heads)];
      const len = lens[e]!;
      const limit = causal ? Math.max(0, Math.min(len, s + 1 + len - queries)) : len;
      const base = (e * rows + r) * cols;
      let max = -Infinity;
      for (let j = 0; j < limit; j++) max = Math.max(max, scale * scores[base + j]!);
      let sum = 0;
      for (let j = 0; j < limit; j++) sum += Math.exp(scale * scores[base + j]! - max);
      for (let j = 0; j < limit; j++) probs[base + j] = Math.exp(scale * scores[base + j]! - max) / sum;
      lse[(e * heads + h) * queries + s] = limit === 0 ? Infinity : max + Math.log(sum);
    }
  }
  return { probs, lse };
}

describe.each(testDevices().map((d) => [d.id, d] as const))('steps on %s', (_, dev) => {
  it('gather: pages in block-table order, zero padding, NaN for a page outside the cache', async () => {
    const [blocks, page, maxPages] = [5, 3, 3];
    const [cache, cacheValues] = await bf16Random(dev, [blocks, page, ROW], 'mla gather cache');
    const tableValues = new Int32Array([4, 0, 2, 1, 3, -1, 2, 2, 2, 9, 0, 0]);
    const table = dev.tensor(tableValues, { shape: [4, maxPages], dtype: 'i32' });
    const lens = [7, 5, 0, 2];
    using out = baselines.mlaGather(cache, table, lens);
    expect(out.shape).toEqual([4, 7, ROW]);
    const got = (await out.toArray()) as Float32Array;
    const want = gatherReference(cacheValues, blocks, page, tableValues, maxPages, lens);
    for (let i = 0; i < want.length; i++) {
      if (Number.isNaN(want[i]!)) expect(got[i]).toBeNaN();
      else if (got[i] !== want[i]) expect.fail(`element ${i}: ${got[i]} != ${want[i]}`);
    }
    cache.dispose();
    table.dispose();
  });

  it('gather: more entries than one launch carries', async () => {
    const b = 300;
    const [cache, cacheValues] = await bf16Random(dev, [2, 2, ROW], 'mla gather many');
    const tableValues = Int32Array.from({ length: b }, (_, i) => i % 2);
    const table = dev.tensor(tableValues, { shape: [b, 1], dtype: 'i32' });
    const lens = Array.from({ length: b }, (_, i) => i % 3);
    using out = baselines.mlaGather(cache, table, lens);
    expect(Array.from((await out.toArray()) as Float32Array)).toEqual(Array.from(gatherReference(cacheValues, 2, 2, tableValues, 1, lens)));
    cache.dispose();
    table.dispose();
  });

  const SOFTMAX_CASES = [
    { name: 'decode rows [Sq, H], causal bottom-right, a length below Sq, an empty entry', n: 4, heads: 3, queries: 3, cols: 300, lens: [300, 2, 0, 137], headMajor: false, causal: true },
    { name: 'decode rows, not causal', n: 2, heads: 5, queries: 1, cols: 70, lens: [70, 33], headMajor: false, causal: false },
    { name: 'prefill rows [H, S], causal top-left', n: 1, heads: 2, queries: 40, cols: 40, lens: [40], headMajor: true, causal: true },
  ];
  it.each(SOFTMAX_CASES)('softmax: $name', async (c) => {
    const scale = 0.37;
    const rows = c.heads * c.queries;
    const values = rng(`mla softmax ${c.name}`).uniformArray(c.n * rows * c.cols, -20, 20);
    const scores = dev.tensor(values, { shape: [c.n, rows, c.cols], dtype: 'f32' });
    const r = baselines.mlaSoftmax(scores, { lengths: c.lens, heads: c.heads, queries: c.queries, headMajor: c.headMajor, softmaxScale: scale, causal: c.causal });
    expect(r.probs.shape).toEqual([c.n, rows, c.cols]);
    expect(r.lse.shape).toEqual([c.n, c.heads, c.queries]);
    const want = softmaxReference(values, c.n, c.heads, c.queries, c.cols, c.lens, c.headMajor, scale, c.causal);
    const probs = (await r.probs.toArray()) as Float32Array;
    const lse = (await r.lse.toArray()) as Float32Array;
    // bf16 probabilities: within half an ulp of bf16 (2^-9 relative) plus f32 noise; zeros exact.
    for (let i = 0; i < probs.length; i++) {
      const w = want.probs[i]!;
      if (Math.abs(probs[i]! - w) > Math.abs(w) * 2 ** -8 + 1e-30) expect.fail(`probability ${i}: ${probs[i]} vs ${w}`);
    }
    for (let i = 0; i < lse.length; i++) {
      const w = want.lse[i]!;
      if (w === Infinity) expect(lse[i]).toBe(Infinity);
      else if (Math.abs(lse[i]! - w) > 1e-5 * Math.max(1, Math.abs(w))) expect.fail(`lse ${i}: ${lse[i]} vs ${w}`);
    }
    scores.dispose();
    r.probs.dispose();
    r.lse.dispose();
  });

  it('assemble: [k_nope | kRope] per head', async () => {
    const [t, h] = [7, 3];
    const [kv, kvValues] = await bf16Random(dev, [t, h * 256], 'mla assemble kv');
    const [kRope, ropeValues] = await bf16Random(dev, [t, 64], 'mla assemble rope');
    using k = baselines.mlaAssembleKeys(kv, kRope);
    expect(k.shape).toEqual([t, h, 192]);
    const got = (await k.toArray()) as Float32Array;
    for (let i = 0; i < t; i++) {
      for (let hh = 0; hh < h; hh++) {
        for (let d = 0; d < 192; d++) {
          const want = d < 128 ? kvValues[(i * h + hh) * 256 + d]! : ropeValues[i * 64 + d - 128]!;
          if (got[(i * h + hh) * 192 + d] !== want) expect.fail(`k[${i}, ${hh}, ${d}]`);
        }
      }
    }
    kv.dispose();
    kRope.dispose();
  });
});

// ---- The baselines on a GPU with cuBLAS ---------------------------------------------

/** Float64 decode in the absorbed form over the gathered rows: out [B, Sq, H, 512], lse [B, H, Sq]. */
function decodeReference(q: Float32Array, rows: Float32Array, b: number, sq: number, h: number, maxLen: number, lens: number[], scale: number, causal: boolean) {
  const out = new Float64Array(b * sq * h * 512);
  const lse = new Float64Array(b * h * sq);
  for (let e = 0; e < b; e++) {
    for (let s = 0; s < sq; s++) {
      for (let hh = 0; hh < h; hh++) {
        const len = lens[e]!;
        const limit = causal ? Math.max(0, Math.min(len, s + 1 + len - sq)) : len;
        const qBase = ((e * sq + s) * h + hh) * ROW;
        const x = new Float64Array(limit);
        let max = -Infinity;
        for (let j = 0; j < limit; j++) {
          let dot = 0;
          for (let c = 0; c < ROW; c++) dot += q[qBase + c]! * rows[(e * maxLen + j) * ROW + c]!;
          x[j] = scale * dot;
          max = Math.max(max, x[j]!);
        }
        let sum = 0;
        for (let j = 0; j < limit; j++) sum += Math.exp(x[j]! - max);
        for (let c = 0; c < 512; c++) {
          let acc = 0;
          for (let j = 0; j < limit; j++) acc += Math.exp(x[j]! - max) * rows[(e * maxLen + j) * ROW + c]!;
          out[((e * sq + s) * h + hh) * 512 + c] = limit === 0 ? 0 : acc / sum;
        }
        lse[(e * h + hh) * sq + s] = limit === 0 ? Infinity : max + Math.log(sum);
      }
    }
  }
  return { out, lse };
}

const cublasSkip = !gpu ? cudaSkipReason() : onGpu!.mla.reason;
describe.skipIf(cublasSkip !== '')(`on a GPU with cuBLAS${skipNote(cublasSkip)}`, () => {
  it.each([false, true])('mlaDecode (causal %s) against a float64 oracle, varlen with an empty sequence', async (causal) => {
    const dev = gpu!;
    const [b, sq, h, page, maxPages, blocks] = [3, 2, 16, 64, 3, 8];
    const lens = [150, 0, 70];
    const [q, qValues] = await bf16Random(dev, [b, sq, h, ROW], 'mla decode q');
    const [cache, cacheValues] = await bf16Random(dev, [blocks, page, ROW], 'mla decode cache');
    const tableValues = new Int32Array([5, 1, 7, 0, 0, 0, 3, 6, 2]);
    const table = dev.tensor(tableValues, { shape: [b, maxPages], dtype: 'i32' });
    const scale = 0.0416;
    using r = baselines.mlaDecode({ q, cache, blockTable: table, seqLens: lens, softmaxScale: scale, causal });
    expect(r.out.shape).toEqual([b, sq, h, 512]);
    expect(r.lse.shape).toEqual([b, h, sq]);
    expect(r.workspaceBytes).toBe(baselines.mlaDecodeWorkspaceBytes({ batch: b, seqQ: sq, heads: h, seqLens: lens }));
    const rows = gatherReference(cacheValues, blocks, page, tableValues, maxPages, lens);
    const want = decodeReference(qValues, rows, b, sq, h, 150, lens, scale, causal);
    expectClose('out', (await r.out.toArray()) as Float32Array, want.out, 1e-2);
    const lse = (await r.lse.toArray()) as Float32Array;
    const finite = Array.from(want.lse).map((v, i) => [v, lse[i]!] as const).filter(([v]) => Number.isFinite(v));
    expectClose('lse', finite.map(([, g]) => g), finite.map(([v]) => v), 1e-3);
    for (let i = 0; i < lse.length; i++) if (want.lse[i] === Infinity) expect(lse[i]).toBe(Infinity);
    for (const t of [q, cache, table]) t.dispose();
  });

  it.each([true, false])('mlaPrefill (causal %s) against moekit mla.prefill on the CPU and a float64 oracle', async (causal) => {
    const dev = gpu!;
    const [h, lens] = [4, [37, 0, 90]];
    const t = 127;
    const [q, qValues] = await bf16Random(dev, [t, h, MLA.qk], 'mla prefill q');
    const [latent, latentValues] = await bf16Random(dev, [t, MLA.latent], 'mla prefill latent');
    const [kRope, ropeValues] = await bf16Random(dev, [t, MLA.rope], 'mla prefill rope');
    const [wkvB, wValues] = await bf16Random(dev, [h * MLA.wkvRows, MLA.latent], 'mla prefill wkvB', -0.05, 0.05);
    const scale = 0.1352;
    using r = baselines.mlaPrefill({ q, latent, kRope, wkvB, seqLens: lens, softmaxScale: scale, causal });
    expect(r.workspaceBytes).toBe(baselines.mlaPrefillWorkspaceBytes({ heads: h, seqLens: lens }));
    const cuSeqLens = [0, 37, 37, 127];
    const oracle = naiveAttention({ q: qValues, latent: latentValues, kRope: ropeValues, wkvB: wValues, cuSeqLens, heads: h, softmaxScale: scale, causal });
    const out = (await r.out.toArray()) as Float32Array;
    const lse = (await r.lse.toArray()) as Float32Array;
    expectClose('out vs float64', out, oracle.out, 1e-2);
    expectClose('lse vs float64', lse, oracle.lse, 1e-3);
    const cu = cpu.tensor(new Int32Array(cuSeqLens), { shape: [4], dtype: 'i32' });
    using own = mla.prefill({ q: q.to(cpu), latent: latent.to(cpu), kRope: kRope.to(cpu), wkvB: wkvB.to(cpu), cuSeqLens: cu, softmaxScale: scale, causal });
    expectClose('out vs mla.prefill', out, (await own.out.toArray()) as Float32Array, 1e-2);
    expectClose('lse vs mla.prefill', lse, (await own.lse.toArray()) as Float32Array, 1e-3);
    for (const x of [q, latent, kRope, wkvB, cu]) x.dispose();
  });
});
