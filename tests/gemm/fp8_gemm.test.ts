// fp8Gemm: the block-scaled FP8 GEMM with promotion every 128 K.
// CPU: against a float64 oracle computed from the same quantized inputs
// (tolerance from tests/helpers/tolerance.ts: the output's own rounding plus
// f32 accumulation, far below the 1e-3 that FP8 tensor-core accumulation needs) and against the unquantized float64
// product (DeepGEMM's metric 1 − 2Σxy/Σ(x²+y²) < 1e-3), on M in
// {1, 7, 64, 127, 128, 129}, ragged N and K (K not a multiple of 128, K = 1),
// every format pairing, and the DeepSeek-V3 shapes. CUDA: every version
// against the CPU on the same quantized inputs, up to M = 4096, each held to
// its contract (tests/helpers/versions.ts). Outputs are
// NaN-poisoned before each run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import {
  type Device,
  type Quantized,
  asQuantized,
  device,
  fp8Gemm,
  kernelVersions,
  quantize,
} from '../../lib/index.js';
import { expectClose, fp8GemmDiff } from '../helpers/close.js';
import { EMULATED_COST, cudaDevice, cudaSkipReason, gemmWork, allTooLargeToEmulate, tooLargeToEmulate } from '../helpers/devices.js';
import { expectAllFinite, gemmReference, pickRows, roundToBf16InPlace, sampleRows } from '../helpers/gemm_oracle.js';
import { type Fp8, fp8GemmOracle } from '../helpers/quant_oracle.js';
import { rng } from '../helpers/rng.js';
import { productTolerance } from '../helpers/tolerance.js';
import { accumulatorOf, runPerContract, smOf } from '../helpers/versions.js';

interface Case {
  m: number;
  n: number;
  k: number;
  aFormat: Fp8;
  bFormat: Fp8;
  out: 'bf16' | 'f32';
}

const DEEPSEEK_NK: Array<[number, number]> = [
  [2112, 7168],
  [24576, 1536],
  [32768, 512],
  [7168, 16384],
  [4096, 7168],
  [7168, 2048],
];

const RAGGED: Case[] = [1, 7, 64, 127, 128, 129].flatMap((m, i) => [
  { m, n: 257, k: 300, aFormat: 'e4m3' as const, bFormat: 'e4m3' as const, out: i % 2 ? ('f32' as const) : ('bf16' as const) },
  { m, n: 130, k: 128, aFormat: 'e4m3' as const, bFormat: 'e4m3' as const, out: i % 2 ? ('bf16' as const) : ('f32' as const) },
]);
const EDGES: Case[] = [
  { m: 3, n: 5, k: 1, aFormat: 'e4m3', bFormat: 'e4m3', out: 'f32' },
  { m: 9, n: 129, k: 16, aFormat: 'e4m3', bFormat: 'e4m3', out: 'bf16' },
  { m: 65, n: 33, k: 129, aFormat: 'e4m3', bFormat: 'e4m3', out: 'f32' },
  { m: 17, n: 200, k: 1000, aFormat: 'e5m2', bFormat: 'e4m3', out: 'f32' },
  { m: 17, n: 200, k: 640, aFormat: 'e4m3', bFormat: 'e5m2', out: 'bf16' },
  { m: 17, n: 200, k: 384, aFormat: 'e5m2', bFormat: 'e5m2', out: 'f32' },
];

function label(c: Case): string {
  return `${c.aFormat}x${c.bFormat}->${c.out} M=${c.m} N=${c.n} K=${c.k}`;
}

interface Inputs {
  x: Float32Array; // [m, k] bf16 values as f32
  w: Float32Array; // [n, k] bf16 values as f32
}

// Activations are normal (as DeepGEMM's tests draw them); weights, which can
// hold a hundred million elements, are uniform for speed.
function inputs(c: Case): Inputs {
  const r = rng(label(c));
  return {
    x: roundToBf16InPlace(r.randnArray(c.m * c.k)),
    w: roundToBf16InPlace(r.uniform24Array(c.n * c.k, -0.05, 0.05)),
  };
}

/**
 * DeepGEMM's bound for the unquantized product is 1e-3 for e4m3 operands;
 * e5m2 keeps one mantissa bit less, which about quadruples the metric (it
 * grows with the square of the relative error).
 */
// DeepGEMM's bounds hold for the large outputs it tests. The metric is a
// ratio of sums over the M·N outputs, so on a small output it varies by about
// sqrt(2 / (M·N)) of itself from seed to seed (1 seed in 8 exceeded 1e-3 at
// M = 1, N = 130); the bound widens by four of those. A wrong scale row still
// fails by orders of magnitude.
function unquantizedBound(c: Case): number {
  const base = c.aFormat === 'e4m3' && c.bFormat === 'e4m3' ? 1e-3 : c.aFormat === c.bFormat ? 8e-3 : 4e-3;
  return base * (1 + 4 * Math.sqrt(2 / Math.max(1, c.m * c.n)));
}

interface Prepared {
  xq: Quantized;
  wq: Quantized;
  dispose(): void;
}

function prepare(dev: Device, c: Case, ins: Inputs): Prepared {
  using x = dev.tensor(ins.x, { shape: [c.m, c.k], dtype: 'bf16' });
  using w = dev.tensor(ins.w, { shape: [c.n, c.k], dtype: 'bf16' });
  const xq = quantize(x, { block: [1, 128], format: c.aFormat });
  const wq = quantize(w, { block: [128, 128], format: c.bFormat });
  return { xq, wq, dispose: () => (xq.dispose(), wq.dispose()) };
}

async function oracleOf(c: Case, p: Prepared, rows: number[]): Promise<Float64Array> {
  const a = { codes: await p.xq.values.bytes(), scales: await p.xq.scales.toArray(), format: c.aFormat, block: '1x128' as const };
  const b = { codes: await p.wq.values.bytes(), scales: await p.wq.scales.toArray(), format: c.bFormat, block: '128x128' as const };
  return fp8GemmOracle(a, b, c.m, c.n, c.k, rows);
}

async function checkCpu(c: Case, rowCount = 16): Promise<void> {
  const cpu = device('cpu');
  const ins = inputs(c);
  const p = prepare(cpu, c, ins);
  try {
    using y = fp8Gemm(p.xq, p.wq, { outDtype: c.out });
    expect(y.shape).toEqual([c.m, c.n]);
    expect(y.dtype).toBe(c.out);
    const got = await y.toArray();
    expectAllFinite(label(c), got);
    const rows = sampleRows(label(c), c.m, rowCount);
    const mine = pickRows(got, c.n, rows);
    // 1. The same quantized math, in float64 (unrounded).
    const oracle = await oracleOf(c, p, rows);
    expectClose(`same quantized inputs ${label(c)}`, mine, oracle, productTolerance(c.out, oracle, c.k, ['f32']), { shape: [rows.length, c.n] });
    // 2. The product the quantized operands stand for.
    const exact = gemmReference(ins.x, ins.w, c.n, c.k, rows);
    const diff = fp8GemmDiff(mine, exact);
    if (!(diff < unquantizedBound(c))) expect.fail(`unquantized product ${label(c)}: DeepGEMM diff ${diff} is not below ${unquantizedBound(c)}`);
  } finally {
    p.dispose();
  }
}

describe('fp8Gemm on the CPU', () => {
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each([...RAGGED, ...EDGES].map((c) => [label(c), c] as const))('%s', async (_, c) => {
    await checkCpu(c);
  });

  it('DeepSeek-V3 shapes at M = 7', async () => {
    for (const [n, k] of DEEPSEEK_NK) await checkCpu({ m: 7, n, k, aFormat: 'e4m3', bFormat: 'e4m3', out: 'bf16' }, 3);
  });

  it('promotion applies each block its own scales (one block of zeros, one of huge values)', async () => {
    // K = 256: the first K block is small, the second large; a kernel that
    // applied one scale to both would be far off.
    const cpu = device('cpu');
    const m = 4;
    const n = 3;
    const k = 256;
    const x = new Float32Array(m * k);
    const w = new Float32Array(n * k);
    const r = rng('two scales');
    for (let i = 0; i < m; i++) for (let t = 0; t < k; t++) x[i * k + t] = (t < 128 ? 1e-3 : 1e3) * r.uniform(-1, 1);
    for (let j = 0; j < n; j++) for (let t = 0; t < k; t++) w[j * k + t] = (t < 128 ? 1e3 : 1e-3) * r.uniform(-1, 1);
    using xt = cpu.tensor(x, { shape: [m, k] });
    using wt = cpu.tensor(w, { shape: [n, k] });
    using xq = quantize(xt, { block: [1, 128] });
    using wq = quantize(wt, { block: [128, 128] });
    using y = fp8Gemm(xq, wq, { outDtype: 'f32' });
    const diff = fp8GemmDiff(await y.toArray(), gemmReference(x, w, n, k, [0, 1, 2, 3]));
    // Twelve outputs make the metric noisy: over 5,000 seeds its median was
    // 6.5e-4 and its maximum 1.4e-2. One scale for both blocks would be off
    // by order 1, far past this bound.
    expect(diff).toBeLessThan(5e-2);
  });

  it('empty M or N give empty outputs', async () => {
    const cpu = device('cpu');
    for (const [m, n] of [
      [0, 5],
      [5, 0],
    ]) {
      using x = cpu.zeros([m!, 256], 'bf16');
      using w = cpu.zeros([n!, 256], 'bf16');
      using xq = quantize(x, { block: [1, 128] });
      using wq = quantize(w, { block: [128, 128] });
      using y = fp8Gemm(xq, wq);
      expect(y.shape).toEqual([m, n]);
    }
  });
});

describe('fp8Gemm rejects bad input with the argument named', () => {
  const cpu = device('cpu');
  it('operands must be quantized with the right blocks and agree on K', () => {
    using x = cpu.zeros([4, 256], 'bf16');
    using w = cpu.zeros([8, 256], 'bf16');
    using w2 = cpu.zeros([8, 128], 'bf16');
    using xq = quantize(x, { block: [1, 128] });
    using wq = quantize(w, { block: [128, 128] });
    using xt = quantize(x, { block: 'tensor' });
    using w2q = quantize(w2, { block: [128, 128] });
    expect(() => fp8Gemm(x as never, wq)).toThrow('fp8Gemm: a must be a Quantized (from quantize(x, { block: [1, 128] })), got a Tensor');
    expect(() => fp8Gemm(xq, w as never)).toThrow('fp8Gemm: b must be a Quantized (from quantize(w, { block: [128, 128] })), got a Tensor');
    expect(() => fp8Gemm(wq, xq)).toThrow('fp8Gemm: a must be quantized with block [1, 128], got block [128, 128]');
    expect(() => fp8Gemm(xq, xq)).toThrow('fp8Gemm: b must be quantized with block [128, 128], got block [1, 128]');
    expect(() => fp8Gemm(xt, wq)).toThrow("fp8Gemm: a must be quantized with block [1, 128], got block 'tensor'");
    expect(() => fp8Gemm(xq, w2q)).toThrow('fp8Gemm: b.values.shape must be [N, 256] (K of a), got [8, 128]');
    expect(() => fp8Gemm(xq, wq, { outDtype: 'f16' as 'f32' })).toThrow(
      "fp8Gemm: options.outDtype must be one of 'bf16', 'f32', got a string ('f16')",
    );
    expect(() => fp8Gemm(xq, wq, { impl: 'v1' })).toThrow("fp8Gemm: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v1'");
    using scales = cpu.zeros([4, 3]);
    expect(() => asQuantized(xq.values, scales, { block: [1, 128] })).toThrow(
      'asQuantized: scales.shape must be [4, 2] for values of shape [4, 256], got [4, 3]',
    );
    wq.scales.dispose();
    expect(() => fp8Gemm(xq, wq)).toThrow('fp8Gemm: b.scales was disposed; a tensor cannot be used after dispose()');
  });
});

const gpu = cudaDevice();
describe.skipIf(!gpu)(`fp8Gemm on CUDA against the CPU${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions().fp8Gemm!.map((v) => v.name) : [];
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));

  /**
   * Runs `version` on the GPU and the CPU twin on the same quantized inputs;
   * for large M the CPU computes only sampled rows (A's rows sliced on the
   * host and wrapped with asQuantized), which rows are independent for.
   */
  async function compare(c: Case, version: string): Promise<void> {
    const call = { ...c, sm: smOf(gpu!.info) };
    const ins = inputs(c);
    const p = prepare(gpu!, c, ins);
    try {
      const got = await runPerContract('fp8Gemm', version, call, async () => {
        using y = fp8Gemm(p.xq, p.wq, { outDtype: c.out, impl: version as 'v1' });
        return y.toArray();
      });
      if (got === 'refused') return;
      expectAllFinite(`${version} ${label(c)}`, got);
      const rows = sampleRows(`${version} ${label(c)}`, c.m, c.m > 256 ? 64 : c.m);
      const kb = Math.ceil(c.k / 128);
      const codes = await p.xq.values.bytes();
      const scales = await p.xq.scales.toArray();
      const rowCodes = new Uint8Array(rows.length * c.k);
      const rowScales = new Float32Array(rows.length * kb);
      rows.forEach((r, i) => {
        rowCodes.set(codes.subarray(r * c.k, (r + 1) * c.k), i * c.k);
        rowScales.set(scales.subarray(r * kb, (r + 1) * kb), i * kb);
      });
      const cpu = device('cpu');
      using aq = asQuantized(cpu.tensor(rowCodes, { shape: [rows.length, c.k], dtype: c.aFormat }), cpu.tensor(rowScales, { shape: [rows.length, kb] }), {
        block: [1, 128],
      });
      using wq = p.wq.values.to(cpu);
      using ws = p.wq.scales.to(cpu);
      using bq = asQuantized(wq.clone(), ws.clone(), { block: [128, 128] });
      // The twin's f32 output, unrounded to c.out: the tolerance is then the
      // output's own rounding plus both accumulations (tolerance.ts).
      using ref = fp8Gemm(aq, bq, { outDtype: 'f32' });
      const want = await ref.toArray();
      const tol = productTolerance(c.out, want, c.k, [accumulatorOf('fp8Gemm', version, call), 'f32']);
      expectClose(`${version} vs cpu ${label(c)}`, pickRows(got, c.n, rows), want, tol, { shape: [rows.length, c.n] });
    } finally {
      p.dispose();
    }
  }

  it.each(versions.flatMap((v) => [...RAGGED, ...EDGES].map((c) => [`${v} ${label(c)}`, v, c] as const)))('%s', async (_, version, c) => {
    await compare(c, version);
  });

  const deepseek = [64, 128, 4096].flatMap((m) => DEEPSEEK_NK.map(([n, k]): Case => ({ m, n, k, aFormat: 'e4m3', bFormat: 'e4m3', out: 'bf16' })));
  /** The GEMM, and the quantization of both operands that compare() runs on the GPU first. */
  const work = (c: Case, version: string): number => gemmWork('fp8Gemm', version, c.m, c.n, c.k) + EMULATED_COST.element * (c.m + c.n) * c.k;
  for (const version of versions) {
    // Too slow for the emulated GPU, shape by shape (the whole test when no shape fits).
    const skip = allTooLargeToEmulate(gpu, deepseek.map((c) => work(c, version)));
    it.skipIf(skip !== '')(`${version} on DeepSeek-V3 shapes at M = 64, 128 and 4096${skip ? ` (${skip})` : ''}`, async () => {
      for (const c of deepseek) {
        const tooLarge = tooLargeToEmulate(gpu, work(c, version));
        if (tooLarge) console.log(`fp8Gemm ${version} M=${c.m} N=${c.n} K=${c.k}: ${tooLarge}`);
        else await compare(c, version);
      }
    });
  }
});
