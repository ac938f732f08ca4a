// gemm (C = A·Bᵀ, f32 accumulation) on the CPU against a float64 oracle over
// the inputs as stored, on ragged shapes, every dtype pairing, empty shapes
// and DeepSeek-V3 shapes; every CUDA version against the CPU when a GPU is
// present, each held to its contract (tests/helpers/versions.ts). Tolerances:
// tests/helpers/tolerance.ts, from the output dtype, K and how the
// implementation accumulates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import { type Device, device, gemm, kernelVersions } from '../../lib/index.js';
import { expectClose } from '../helpers/close.js';
import { cudaDevice, cudaSkipReason, gemmWork, allTooLargeToEmulate, tooLargeToEmulate } from '../helpers/devices.js';
import { expectAllFinite, gemmReference, pickRows, roundTo, sampleRows } from '../helpers/gemm_oracle.js';
import { rng } from '../helpers/rng.js';
import { type Accumulator, productTolerance } from '../helpers/tolerance.js';
import { accumulatorOf, runPerContract, smOf } from '../helpers/versions.js';

type GemmDType = 'f32' | 'bf16' | 'f16';

interface Case {
  m: number;
  n: number;
  k: number;
  dtype: GemmDType;
  out: GemmDType;
}

const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [1, 257, 300],
  [7, 64, 129],
  [64, 130, 128],
  [127, 33, 1000],
  [128, 128, 128],
  [129, 65, 17],
];

const CASES: Case[] = SHAPES.flatMap(([m, n, k], i) => [
  { m, n, k, dtype: 'f32' as const, out: 'f32' as const },
  { m, n, k, dtype: 'bf16' as const, out: i % 2 ? ('bf16' as const) : ('f32' as const) },
  { m, n, k, dtype: 'f16' as const, out: i % 2 ? ('f32' as const) : ('f16' as const) },
]);

function label(c: Case): string {
  return `${c.dtype}->${c.out} M=${c.m} N=${c.n} K=${c.k}`;
}

interface Operands {
  a: Float32Array;
  b: Float32Array;
}

function operands(c: Case): Operands {
  const r = rng(label(c));
  // Values as the dtype stores them, so the oracle sees what the kernel sees.
  const a = Float32Array.from(roundTo(c.dtype, r.uniform24Array(c.m * c.k)));
  const b = Float32Array.from(roundTo(c.dtype, r.uniform24Array(c.n * c.k)));
  return { a, b };
}

async function runGemm(dev: Device, c: Case, ops: Operands, impl = 'auto'): Promise<Float32Array> {
  using a = dev.tensor(ops.a, { shape: [c.m, c.k], dtype: c.dtype });
  using b = dev.tensor(ops.b, { shape: [c.n, c.k], dtype: c.dtype });
  using out = gemm(a, b, { outDtype: c.out, impl: impl as 'auto' });
  expect(out.shape).toEqual([c.m, c.n]);
  expect(out.dtype).toBe(c.out);
  return out.toArray();
}

/**
 * Runs `impl` on `dev` and compares sampled rows with the float64 product of
 * the stored inputs, unrounded; `accumulator` says how `impl` sums (the CPU
 * twin promises f32 accumulation at least).
 */
async function checkAgainstOracle(dev: Device, c: Case, impl = 'auto', accumulator: Accumulator = 'f32'): Promise<void> {
  const ops = operands(c);
  const got = await runGemm(dev, c, ops, impl);
  expectAllFinite(label(c), got);
  const rows = sampleRows(label(c), c.m, 16);
  const want = gemmReference(ops.a, ops.b, c.n, c.k, rows);
  expectClose(`${impl} ${label(c)}`, pickRows(got, c.n, rows), want, productTolerance(c.out, want, c.k, [accumulator]), {
    shape: [rows.length, c.n],
  });
}

describe('gemm on the CPU against the float64 oracle', () => {
  const cpu = device('cpu');
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    await checkAgainstOracle(cpu, c);
  });

  it.each([
    [2112, 7168],
    [7168, 2048],
  ])('bf16 DeepSeek-V3 shape N=%i K=%i at M=3', async (n, k) => {
    await checkAgainstOracle(cpu, { m: 3, n, k, dtype: 'bf16', out: 'bf16' });
  });

  it('empty shapes: M or N = 0 give empty outputs, K = 0 gives zeros', async () => {
    for (const [m, n, k] of [
      [0, 5, 3],
      [5, 0, 3],
      [0, 0, 0],
    ]) {
      using a = cpu.zeros([m!, k!], 'bf16');
      using b = cpu.zeros([n!, k!], 'bf16');
      using out = gemm(a, b);
      expect(out.shape).toEqual([m, n]);
      expect((await out.toArray()).length).toBe(0);
    }
    using a = cpu.zeros([3, 0], 'f32');
    using b = cpu.zeros([4, 0], 'f32');
    using out = gemm(a, b);
    expect(Array.from(await out.toArray())).toEqual(new Array(12).fill(0));
  });

  it('the default output dtype is the inputs dtype', () => {
    using a = cpu.zeros([2, 3], 'f16');
    using b = cpu.zeros([4, 3], 'f16');
    using out = gemm(a, b);
    expect(out.dtype).toBe('f16');
  });
});

describe('gemm rejects bad input with the argument named', () => {
  const cpu = device('cpu');
  it('dtypes, ranks, shapes, options', () => {
    using a = cpu.zeros([4, 8], 'bf16');
    using b = cpu.zeros([5, 8], 'bf16');
    using bk = cpu.zeros([5, 9], 'bf16');
    using f = cpu.zeros([5, 8], 'f32');
    using i = cpu.zeros([4, 8], 'i32');
    using r3 = cpu.zeros([2, 4, 8], 'bf16');
    expect(() => gemm(a, bk)).toThrow('gemm: b.shape must be [N, 8] (K of a [4, 8]), got [5, 9]');
    expect(() => gemm(a, f)).toThrow("gemm: b.dtype must be the dtype of a ('bf16'), got 'f32'");
    expect(() => gemm(i, i)).toThrow("gemm: a.dtype must be 'f32', 'bf16' or 'f16', got 'i32'");
    expect(() => gemm(r3, b)).toThrow('gemm: a.shape must be of rank 2, got [2, 4, 8]');
    expect(() => gemm(a, b, { outDtype: 'e4m3' as 'f32' })).toThrow(
      "gemm: options.outDtype must be one of 'f32', 'bf16', 'f16', got a string ('e4m3')",
    );
    expect(() => gemm(a, b, { impl: 'v2' })).toThrow("gemm: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v2'");
    expect(() => gemm(a, b, { impl: 'fast' as 'auto' })).toThrow("gemm: options.impl must be 'auto', 'cpu' or 'vN', got a string ('fast')");
    expect(() => gemm(a, 3 as never)).toThrow('gemm: b must be a Tensor, got a number (3)');
    b.dispose();
    expect(() => gemm(a, b)).toThrow('gemm: b was disposed; a tensor cannot be used after dispose()');
  });
});

const gpu = cudaDevice();
describe.skipIf(!gpu)(`gemm on CUDA against the CPU${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions().gemm!.map((v) => v.name) : [];
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));

  it.each(versions.flatMap((v) => CASES.map((c) => [`${v} ${label(c)}`, v, c] as const)))('%s', async (_, version, c) => {
    // A version may decline only what its contract says it declines.
    const call = { ...c, sm: smOf(gpu!.info) };
    await runPerContract('gemm', version, call, () => checkAgainstOracle(gpu!, c, version, accumulatorOf('gemm', version, call)));
  });

  const deepseek: Array<[number, number, number]> = [
    [128, 2112, 7168],
    [4096, 4096, 7168],
    [4096, 7168, 2048],
  ];
  for (const version of versions) {
    // Too slow for the emulated GPU, shape by shape (the whole test when no shape fits).
    const skip = allTooLargeToEmulate(gpu, deepseek.map(([m, n, k]) => gemmWork('gemm', version, m, n, k)));
    it.skipIf(skip !== '')(`${version} on bf16 DeepSeek-V3 shapes, M = 128 and 4096${skip ? ` (${skip})` : ''}`, async () => {
      for (const [m, n, k] of deepseek) {
        const tooLarge = tooLargeToEmulate(gpu, gemmWork('gemm', version, m, n, k));
        const c: Case = { m, n, k, dtype: 'bf16', out: 'bf16' };
        const call = { ...c, sm: smOf(gpu!.info) };
        if (tooLarge) console.log(`gemm ${version} M=${m} N=${n} K=${k}: ${tooLarge}`);
        else await runPerContract('gemm', version, call, () => checkAgainstOracle(gpu!, c, version, accumulatorOf('gemm', version, call)));
      }
    });
  }
});
