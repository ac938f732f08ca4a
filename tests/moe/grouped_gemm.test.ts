// moe.groupedGemm / groupedGemmMasked: one GEMM per expert over the
// contiguous and masked layouts. CPU: against a float64 oracle written from
// the layout's definition (each expert's rows times its weights, every
// other row zero), and bit for bit against a per-expert loop of the CPU
// gemm / fp8Gemm on host-sliced operands. CUDA: every version against the
// CPU twin (relative error within the accumulation bound of its GEMM path,
// far below the 1e-2 the MoE layer allows for bf16), each held to its
// contract (tests/helpers/versions.ts). Experts with 0 rows, all rows on
// one expert, one row per expert (T = 1, K = 8), padding rows skipped or
// computed, counts past the masked slot, row scales; bad inputs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, type Quantized, type Tensor, asQuantized, dequantize, device, fp8Gemm, gemm, kernelVersions, moe, quantize } from '../../lib/index.js';
import { expectClose } from '../helpers/close.js';
import { EMULATED_COST, cudaDevice, cudaSkipReason, gemmWork, tooLargeToEmulate } from '../helpers/devices.js';
import { expectAllFinite, gemmReference, roundToBf16InPlace } from '../helpers/gemm_oracle.js';
import { rng } from '../helpers/rng.js';
import { productTolerance } from '../helpers/tolerance.js';
import { accumulatorOf, runPerContract, smOf } from '../helpers/versions.js';

type Kind = 'bf16' | 'f32' | 'fp8';

interface Case {
  name: string;
  kind: Kind;
  layout: 'contiguous' | 'masked';
  n: number;
  k: number;
  /** Rows per expert. */
  counts: number[];
  /** contiguous: segments padded to this; masked: the slot size. */
  align: number;
  /** contiguous: pass the counts (padding skipped) or not (whole segments computed). */
  withCounts: boolean;
  /** contiguous: rows of x past offsets[E] (a worst-case buffer). */
  spare: number;
  rowScale: boolean;
  /** SwiGLU fused: w holds 2n rows per expert (gate, then up), the output n columns. */
  swiglu: boolean;
}

const base = { layout: 'contiguous', align: 1, withCounts: true, spare: 0, rowScale: false, swiglu: false } as const;
const CASES: Case[] = [
  { ...base, name: 'ragged experts, one empty', kind: 'bf16', n: 64, k: 64, counts: [3, 0, 130, 1] },
  { ...base, name: 'all rows on one expert', kind: 'bf16', n: 96, k: 48, counts: [0, 0, 0, 200, 0, 0, 0, 0] },
  { ...base, name: 'T = 1: one row on each of 8 experts', kind: 'bf16', n: 72, k: 128, counts: [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0] },
  { ...base, name: 'padded segments, padding skipped, spare rows', kind: 'bf16', n: 100, k: 72, counts: [5, 0, 17, 64, 1], align: 16, spare: 40 },
  { ...base, name: 'padded segments computed whole', kind: 'bf16', n: 40, k: 32, counts: [5, 0, 17, 1], align: 8, withCounts: false },
  { ...base, name: 'row scales (routing weights)', kind: 'bf16', n: 136, k: 64, counts: [9, 140, 0, 2], rowScale: true },
  { ...base, name: 'f32 operands', kind: 'f32', n: 33, k: 20, counts: [4, 0, 70], spare: 3 },
  { ...base, name: 'masked, counts 0 to past the slot', kind: 'bf16', layout: 'masked', n: 48, k: 40, counts: [0, 17, 3, 1, 9, 99], align: 17 },
  { ...base, name: 'fp8 ragged experts', kind: 'fp8', n: 256, k: 320, counts: [5, 0, 70] },
  { ...base, name: 'fp8 N not a multiple of 128, row scales', kind: 'fp8', n: 200, k: 128, counts: [1, 130, 0, 3], rowScale: true, align: 4, spare: 9 },
  { ...base, name: 'fp8 masked decode', kind: 'fp8', layout: 'masked', n: 128, k: 256, counts: [2, 0, 8, 1], align: 8 },
  { ...base, name: 'SwiGLU fused, ragged columns', kind: 'bf16', n: 40, k: 64, counts: [5, 0, 70], swiglu: true },
  { ...base, name: 'SwiGLU fused, masked, row scales', kind: 'bf16', layout: 'masked', n: 24, k: 32, counts: [3, 0, 9], align: 9, swiglu: true, rowScale: true },
  { ...base, name: 'fp8 SwiGLU fused', kind: 'fp8', n: 128, k: 256, counts: [3, 0, 65], swiglu: true, align: 2, spare: 5 },
  { ...base, name: 'fp8 SwiGLU fused, masked', kind: 'fp8', layout: 'masked', n: 256, k: 128, counts: [1, 4, 0], align: 4, swiglu: true },
];

/** Rows of B per expert. */
const wRows = (c: Case): number => (c.swiglu ? 2 * c.n : c.n);

/** Where each expert's rows start (the slot or segment) and how many of them are computed. */
interface Layout {
  rows: number;
  start: number[];
  computed: number[];
  offsets: Int32Array;
}

function layoutOf(c: Case): Layout {
  const E = c.counts.length;
  if (c.layout === 'masked') {
    const start = c.counts.map((_, e) => e * c.align);
    return { rows: E * c.align, start, computed: c.counts.map((n) => Math.min(n, c.align)), offsets: new Int32Array(0) };
  }
  const offsets = new Int32Array(E + 1);
  for (let e = 0; e < E; e++) offsets[e + 1] = offsets[e]! + Math.ceil(c.counts[e]! / c.align) * c.align;
  const start = Array.from(offsets.subarray(0, E));
  const computed = c.counts.map((n, e) => (c.withCounts ? n : offsets[e + 1]! - offsets[e]!));
  return { rows: offsets[E]! + c.spare, start, computed, offsets };
}

interface Inputs {
  x: Float32Array;
  w: Float32Array;
  rowScale: Float32Array;
}

function inputsOf(c: Case, rows: number): Inputs {
  const r = rng(`groupedGemm ${c.name}`);
  const E = c.counts.length;
  const x = Float32Array.from({ length: rows * c.k }, () => r.randn());
  const w = Float32Array.from({ length: E * wRows(c) * c.k }, () => r.randn() / Math.sqrt(c.k));
  if (c.kind === 'bf16') {
    roundToBf16InPlace(x);
    roundToBf16InPlace(w);
  }
  const rowScale = Float32Array.from({ length: rows }, () => r.uniform(0.1, 1));
  return { x, w, rowScale };
}

/** The operands on `dev` (FP8: quantized on the CPU, so every device multiplies the same codes). */
interface Operands {
  x: Tensor | Quantized;
  w: Tensor | Quantized;
  offsets: Tensor;
  counts: Tensor;
  rowScale: Tensor;
  dispose(): void;
}

function operandsOn(dev: Device, c: Case, l: Layout, ins: Inputs): Operands {
  const E = c.counts.length;
  const xShape = c.layout === 'masked' ? [E, c.align, c.k] : [l.rows, c.k];
  const own: Array<{ dispose(): void }> = [];
  const keep = <T extends { dispose(): void }>(t: T): T => (own.push(t), t);
  let x: Tensor | Quantized;
  let w: Tensor | Quantized;
  if (c.kind === 'fp8') {
    const cpu = device('cpu');
    using xf = cpu.tensor(ins.x, { shape: xShape, dtype: 'bf16' });
    using wf = cpu.tensor(ins.w, { shape: [E, wRows(c), c.k], dtype: 'bf16' });
    using xq = quantize(xf, { block: [1, 128] });
    using wq = quantize(wf, { block: [128, 128] });
    x = keep(asQuantized(xq.values.to(dev), xq.scales.to(dev), { block: [1, 128] }));
    w = keep(asQuantized(wq.values.to(dev), wq.scales.to(dev), { block: [128, 128] }));
  } else {
    x = keep(dev.tensor(ins.x, { shape: xShape, dtype: c.kind }));
    w = keep(dev.tensor(ins.w, { shape: [E, wRows(c), c.k], dtype: c.kind }));
  }
  const rsShape = c.layout === 'masked' ? [E, c.align] : [l.rows, 1];
  return {
    x,
    w,
    offsets: keep(dev.tensor(c.layout === 'masked' ? Int32Array.of(0) : l.offsets, { dtype: 'i32' })),
    counts: keep(dev.tensor(Int32Array.from(c.counts), { dtype: 'i32' })),
    rowScale: keep(dev.tensor(ins.rowScale, { shape: rsShape, dtype: 'f32' })),
    dispose: () => own.forEach((t) => t.dispose()),
  };
}

function run(c: Case, o: Operands, outDtype: 'bf16' | 'f32', impl = 'auto'): Tensor {
  const rowScale = c.rowScale ? o.rowScale : undefined;
  const swiglu = c.swiglu;
  if (c.layout === 'masked') return moe.groupedGemmMasked(o.x, o.w, o.counts, { rowScale, swiglu, outDtype, impl: impl as 'auto' });
  return moe.groupedGemm(o.x, o.w, o.offsets, { counts: c.withCounts ? o.counts : undefined, rowScale, swiglu, outDtype, impl: impl as 'auto' });
}

/** The exact product of what the device multiplies (FP8: the dequantized codes), every uncomputed row 0. */
async function oracle(c: Case, l: Layout, o: Operands, ins: Inputs): Promise<Float64Array> {
  let x: ArrayLike<number> = ins.x;
  let w: ArrayLike<number> = ins.w;
  if (c.kind === 'fp8') {
    using xd = dequantize(o.x as Quantized, { dtype: 'f32' });
    using wd = dequantize(o.w as Quantized, { dtype: 'f32' });
    [x, w] = [await xd.toArray(), await wd.toArray()];
  }
  const out = new Float64Array(l.rows * c.n);
  const wr = wRows(c);
  c.counts.forEach((_, e) => {
    const rows = Array.from({ length: l.computed[e]! }, (_, i) => l.start[e]! + i);
    const we = (w as Float32Array).subarray(e * wr * c.k, (e + 1) * wr * c.k);
    const part = gemmReference(x, we, wr, c.k, rows);
    rows.forEach((row, i) => {
      const s = c.rowScale ? ins.rowScale[row]! : 1;
      for (let j = 0; j < c.n; j++) {
        const g = part[i * wr + j]!;
        const v = c.swiglu ? (g / (1 + Math.exp(-g))) * part[i * wr + c.n + j]! : g;
        out[row * c.n + j] = v * s;
      }
    });
  });
  return out;
}

function expectZeroRows(what: string, got: ArrayLike<number>, c: Case, l: Layout): void {
  const computed = new Uint8Array(l.rows);
  c.counts.forEach((_, e) => computed.fill(1, l.start[e]!, l.start[e]! + l.computed[e]!));
  for (let row = 0; row < l.rows; row++) {
    if (computed[row]) continue;
    for (let j = 0; j < c.n; j++) {
      if (got[row * c.n + j] !== 0) expect.fail(`${what}: row ${row} belongs to no expert's computed rows but column ${j} is ${got[row * c.n + j]}, not 0`);
    }
  }
}

/**
 * silu(g)·u carries the relative errors of both products (the gate's
 * scaled by g·silu'(g)/silu(g), below 1.1 in magnitude), so a SwiGLU output
 * gets three times a plain product's tolerance.
 */
const SWIGLU_FACTOR = (c: Case): number => (c.swiglu ? 3 : 1);

const cpu = device('cpu');

describe('moe.groupedGemm on the CPU', () => {
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [`${c.kind} ${c.layout}: ${c.name}`, c] as const))('%s: float64 oracle, uncomputed rows zero', async (_, c) => {
    const l = layoutOf(c);
    const ins = inputsOf(c, l.rows);
    const o = operandsOn(cpu, c, l, ins);
    try {
      using y = run(c, o, 'bf16');
      expect(y.shape).toEqual(c.layout === 'masked' ? [c.counts.length, c.align, c.n] : [l.rows, c.n]);
      const got = await y.toArray();
      expectAllFinite(c.name, got);
      expectZeroRows(c.name, got, c, l);
      const want = await oracle(c, l, o, ins);
      expectClose(`cpu ${c.name}`, got, want, SWIGLU_FACTOR(c) * productTolerance('bf16', want, c.k, ['f32']));
    } finally {
      o.dispose();
    }
  });

  it.each(CASES.filter((c) => c.layout === 'contiguous' && !c.rowScale && !c.swiglu).map((c) => [`${c.kind}: ${c.name}`, c] as const))(
    '%s: bit for bit a per-expert loop of the CPU gemm',
    async (_, c) => {
      const l = layoutOf(c);
      const ins = inputsOf(c, l.rows);
      const o = operandsOn(cpu, c, l, ins);
      try {
        using y = run(c, o, 'f32');
        const got = await y.toArray();
        for (let e = 0; e < c.counts.length; e++) {
          const m = l.computed[e]!;
          if (m === 0) continue;
          const rows = [l.start[e]!, l.start[e]! + m];
          let ref: Tensor;
          if (c.kind === 'fp8') {
            const xq = o.x as Quantized;
            const wq = o.w as Quantized;
            const kb = Math.ceil(c.k / 128);
            const sb = Math.ceil(c.n / 128);
            const xv = (await xq.values.bytes()).subarray(rows[0]! * c.k, rows[1]! * c.k);
            const xs = (await xq.scales.toArray()).subarray(rows[0]! * kb, rows[1]! * kb);
            const wv = (await wq.values.bytes()).subarray(e * c.n * c.k, (e + 1) * c.n * c.k);
            const ws = (await wq.scales.toArray()).subarray(e * sb * kb, (e + 1) * sb * kb);
            using a = asQuantized(cpu.tensor(xv, { shape: [m, c.k], dtype: 'e4m3' }), cpu.tensor(xs, { shape: [m, kb] }), { block: [1, 128] });
            using b = asQuantized(cpu.tensor(wv, { shape: [c.n, c.k], dtype: 'e4m3' }), cpu.tensor(ws, { shape: [sb, kb] }), { block: [128, 128] });
            ref = fp8Gemm(a, b, { outDtype: 'f32' });
          } else {
            using a = cpu.tensor(ins.x.subarray(rows[0]! * c.k, rows[1]! * c.k), { shape: [m, c.k], dtype: c.kind });
            using b = cpu.tensor(ins.w.subarray(e * c.n * c.k, (e + 1) * c.n * c.k), { shape: [c.n, c.k], dtype: c.kind });
            ref = gemm(a, b, { outDtype: 'f32' });
          }
          const want = await ref.toArray();
          ref.dispose();
          for (let i = 0; i < want.length; i++) {
            const at = rows[0]! * c.n + i;
            if (!Object.is(got[at], want[i])) expect.fail(`${c.name}: expert ${e}, element ${i}: grouped ${got[at]}, per-expert gemm ${want[i]}`);
          }
        }
      } finally {
        o.dispose();
      }
    },
  );

  it('an empty layout (no rows) gives an empty output', async () => {
    using x = cpu.zeros([0, 16], 'bf16');
    using w = cpu.zeros([3, 8, 16], 'bf16');
    using offsets = cpu.tensor(Int32Array.of(0, 0, 0, 0), { dtype: 'i32' });
    using y = moe.groupedGemm(x, w, offsets);
    expect(y.shape).toEqual([0, 8]);
  });

  it('offsets and counts outside the contract stay inside the buffers', async () => {
    using x = cpu.tensor(new Float32Array(10 * 8).fill(1), { shape: [10, 8], dtype: 'bf16' });
    using w = cpu.tensor(new Float32Array(3 * 4 * 8).fill(1), { shape: [3, 4, 8], dtype: 'bf16' });
    using offsets = cpu.tensor(Int32Array.of(-5, 7, 3, 1000), { dtype: 'i32' });
    using counts = cpu.tensor(Int32Array.of(1 << 30, -4, 2), { dtype: 'i32' });
    using y = moe.groupedGemm(x, w, offsets, { counts });
    const got = await y.toArray();
    // Clamped into [0, 10]: expert 0 rows [0, 7) (its count capped by its segment), expert 1
    // none (its end below its start), expert 2 rows [3, 5) (the first 2 of [3, 10)); rows 7.. stay 0.
    expect(Array.from(got)).toEqual(Array.from({ length: 40 }, (_, i) => (Math.floor(i / 4) < 7 ? 8 : 0)));
  });
});

describe('moe.groupedGemm rejects bad input', () => {
  // Kept for the whole file (disposing in the describe body would free them before the tests run).
  const x = cpu.zeros([6, 256], 'bf16');
  const w = cpu.zeros([4, 128, 256], 'bf16');
  const offsets = cpu.tensor(Int32Array.of(0, 2, 4, 6, 6), { dtype: 'i32' });
  it('weights for the wrong number of experts', () => {
    using w3 = cpu.zeros([3, 128, 256], 'bf16');
    expect(() => moe.groupedGemm(x, w3, offsets)).toThrow('moe.groupedGemm: offsets.shape must be [4] (one more than the experts of w), got [5]');
  });
  it('mismatched hidden sizes', () => {
    using wk = cpu.zeros([4, 128, 192], 'bf16');
    expect(() => moe.groupedGemm(x, wk, offsets)).toThrow('moe.groupedGemm: x.shape must be a last dimension of 192 (K of w), got [6, 256]');
  });
  it('mixed operand kinds and dtypes', () => {
    using wf = cpu.zeros([4, 128, 256], 'f32');
    expect(() => moe.groupedGemm(x, wf, offsets)).toThrow("moe.groupedGemm: w.dtype must be 'bf16' (the dtype of x), got 'f32'");
    using wq = quantize(w, { block: [128, 128] });
    expect(() => moe.groupedGemm(x, wq, offsets)).toThrow(/moe.groupedGemm: w must be a tensor of 'bf16' like x, got a Quantized/);
  });
  it('quantized weights with the wrong block', () => {
    using xq = quantize(x, { block: [1, 128] });
    using wrow = quantize(w, { block: [1, 128] });
    expect(() => moe.groupedGemm(xq, wrow, offsets)).toThrow('moe.groupedGemm: w must be quantized with block [128, 128], got block [1, 128]');
    using xtile = quantize(x, { block: [128, 128] });
    using wq = quantize(w, { block: [128, 128] });
    expect(() => moe.groupedGemm(xtile, wq, offsets)).toThrow('moe.groupedGemm: x must be quantized with block [1, 128], got block [128, 128]');
  });
  it('counts, row scales and options of the wrong shape or kind', () => {
    using c3 = cpu.tensor(Int32Array.of(1, 2, 3), { dtype: 'i32' });
    expect(() => moe.groupedGemm(x, w, offsets, { counts: c3 })).toThrow('moe.groupedGemm: options.counts.shape must be [4] (one per expert of w), got [3]');
    using rs = cpu.zeros([5], 'f32');
    expect(() => moe.groupedGemm(x, w, offsets, { rowScale: rs })).toThrow('moe.groupedGemm: options.rowScale.shape must be [6] or [6, 1] (one per row of x), got [5]');
    expect(() => moe.groupedGemm(x, w, offsets, { count: c3 } as never)).toThrow(/moe.groupedGemm: unknown option 'count'/);
    using fo = cpu.zeros([5], 'f32');
    expect(() => moe.groupedGemm(x, w, fo)).toThrow("moe.groupedGemm: offsets.dtype must be 'i32', got 'f32'");
  });
  it('SwiGLU: an odd 2N, and FP8 with N not a multiple of 128', () => {
    using wodd = cpu.zeros([3, 15, 256], 'bf16');
    using o3 = cpu.tensor(Int32Array.of(0, 2, 4, 6), { dtype: 'i32' });
    expect(() => moe.groupedGemm(x, wodd, o3, { swiglu: true })).toThrow(
      'moe.groupedGemm: w.shape must be [E, 2N, K] with an even 2N (gate rows, then up rows) for options.swiglu, got [3, 15, 256]',
    );
    using xq = quantize(x, { block: [1, 128] });
    using w64 = cpu.zeros([3, 128, 256], 'bf16');
    using wq = quantize(w64, { block: [128, 128] });
    expect(() => moe.groupedGemm(xq, wq, o3, { swiglu: true })).toThrow(/moe.groupedGemm: w.values.shape must be \[E, 2N, K\] with N a multiple of 128 for FP8/);
    expect(() => moe.groupedGemm(x, w, offsets, { swiglu: 1 } as never)).toThrow(/moe.groupedGemm: options.swiglu must be a boolean/);
  });
  it('masked: x [E, maxRows, K] with E of w', () => {
    using xm = cpu.zeros([3, 4, 256], 'bf16');
    using counts = cpu.tensor(Int32Array.of(1, 2, 3, 4), { dtype: 'i32' });
    expect(() => moe.groupedGemmMasked(xm, w, counts)).toThrow('moe.groupedGemm: x.shape must be [E, maxRows, K] with E = 4 (the experts of w), got [3, 4, 256]');
    expect(() => moe.groupedGemmMasked(x, w, counts)).toThrow('moe.groupedGemm: x.shape must be of rank 3, got [6, 256]');
  });
});

const gpu = cudaDevice();
describe.skipIf(!gpu)(`moe.groupedGemm on CUDA against the CPU${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions()['moe.groupedGemm']!.map((v) => v.name) : [];
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));

  /** The tiles each expert's rows fill, and the quantization the FP8 cases move over. */
  function work(c: Case, l: Layout, version: string): number {
    const op = c.kind === 'fp8' ? 'fp8Gemm' : 'gemm';
    const rows = l.computed.reduce((s, m) => s + gemmWork(op, version, Math.max(m, 1), wRows(c), c.k) * (m > 0 ? 1 : 0), 0);
    return rows + EMULATED_COST.element * l.rows * c.n;
  }

  const cases = versions.flatMap((v) => CASES.map((c) => [`${v} ${c.kind} ${c.layout}: ${c.name}`, v, c] as const));
  it.each(cases)('%s', async (_, version, c) => {
    const l = layoutOf(c);
    const skip = tooLargeToEmulate(gpu, work(c, l, version));
    if (skip) return void console.log(`${version} ${c.name}: ${skip}`);
    const call = { kind: c.kind, k: c.k, sm: smOf(gpu!.info) };
    const ins = inputsOf(c, l.rows);
    const o = operandsOn(gpu!, c, l, ins);
    const oc = operandsOn(cpu, c, l, ins);
    try {
      const got = await runPerContract('moe.groupedGemm', version, call, async () => {
        using y = run(c, o, 'bf16', version);
        return y.toArray();
      });
      if (got === 'refused') return;
      expectAllFinite(`${version} ${c.name}`, got);
      expectZeroRows(`${version} ${c.name}`, got, c, l);
      using ref = run(c, oc, 'f32');
      const want = await ref.toArray();
      const tol = SWIGLU_FACTOR(c) * productTolerance('bf16', want, c.k, [accumulatorOf('moe.groupedGemm', version, call), 'f32']);
      expectClose(`${version} vs cpu ${c.name}`, got, want, tol);
      expect(tol).toBeLessThan(1e-2);
    } finally {
      o.dispose();
      oc.dispose();
    }
  });
});
