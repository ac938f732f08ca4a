// quantize / dequantize against the float64 oracle of docs/architecture.md, "Numeric conventions",
// element by element (codes and scale bits exactly), on ragged shapes, every
// input dtype, both formats and both scale formats; CUDA versions against the
// CPU bit for bit when a GPU is present, each held to its contract
// (tests/helpers/versions.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../../lib/binding.js';
import {
  type Device,
  type QuantBlock,
  type Quantized,
  asQuantized,
  dequantize,
  device,
  kernelVersions,
  quantize,
} from '../../lib/index.js';
import { expectCodes } from '../helpers/bits.js';
import { expectClose } from '../helpers/close.js';
import { EMULATED_COST, cudaDevice, cudaSkipReason, allTooLargeToEmulate, tooLargeToEmulate } from '../helpers/devices.js';
import { roundTo } from '../helpers/gemm_oracle.js';
import { type Fp8, type OracleBlock, dequantizeOracle, quantizeOracle } from '../helpers/quant_oracle.js';
import { rng } from '../helpers/rng.js';
import { runPerContract, smOf } from '../helpers/versions.js';

type InDType = 'f32' | 'bf16' | 'f16';

interface Case {
  shape: number[];
  block: OracleBlock;
  dtype: InDType;
  format: Fp8;
  ue8m0: boolean;
}

const SHAPES: Record<OracleBlock, number[][]> = {
  '1x128': [[1, 1], [3, 127], [5, 129], [7, 300], [2, 3, 257], [1000], [4, 128], [0, 128], [4, 0]],
  '128x128': [[1, 1], [130, 257], [2, 129, 300], [128, 128], [257, 1], [3, 200, 16], [0, 0]],
  tensor: [[5], [33, 65], [3, 4, 5], [0]],
};
const DTYPES: InDType[] = ['f32', 'bf16', 'f16'];

// Every shape with every input dtype; formats and scale formats rotate so
// each combination appears without a full cross product.
const CASES: Case[] = [];
for (const block of ['1x128', '128x128', 'tensor'] as const) {
  SHAPES[block].forEach((shape, i) => {
    DTYPES.forEach((dtype, j) => {
      CASES.push({ shape, block, dtype, format: (i + j) % 2 === 0 ? 'e4m3' : 'e5m2', ue8m0: (i + 2 * j) % 3 === 0 });
    });
  });
}

const API_BLOCK: Record<OracleBlock, QuantBlock> = { '1x128': [1, 128], '128x128': [128, 128], tensor: 'tensor' };

function label(c: Case): string {
  return `${c.block} [${c.shape.join(', ')}] ${c.dtype} -> ${c.format}${c.ue8m0 ? ' ue8m0' : ''}`;
}

/**
 * Inputs that reach every part of the encoder: normal values, whole blocks
 * of zeros (the amax floor), blocks of tiny values (FP8 subnormals after
 * scaling) and huge ones, rounded to the input dtype's values.
 */
function inputs(c: Case): Float32Array {
  const r = rng(label(c));
  const n = c.shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  const magnitude = c.dtype === 'f16' ? [1e-3, 1, 100] : [1e-30, 1, 1e30];
  for (let i = 0; i < n; i++) {
    const regime = Math.floor(i / 128) % 4;
    x[i] = regime === 3 ? 0 : r.randn() * magnitude[regime]!;
  }
  return Float32Array.from(roundTo(c.dtype, x));
}

function f32Bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

async function checkAgainstOracle(dev: Device, c: Case, impl = 'auto'): Promise<void> {
  const x = inputs(c);
  const oracle = quantizeOracle(x, c.shape, c.block, c.format, c.ue8m0);
  using t = dev.tensor(x, { shape: c.shape, dtype: c.dtype });
  using q = quantize(t, { block: API_BLOCK[c.block], format: c.format, scaleFormat: c.ue8m0 ? 'ue8m0' : 'f32', impl: impl as 'auto' });
  expect(q.values.shape).toEqual(c.shape);
  expect(q.values.dtype).toBe(c.format);
  expect(q.scales.shape).toEqual(oracle.scaleShape);
  expectCodes(`${label(c)} scales`, f32Bits(await q.scales.toArray()), f32Bits(oracle.scales));
  expectCodes(`${label(c)} codes`, await q.values.bytes(), oracle.codes, x);
  for (const dtype of ['f32', 'bf16'] as const) {
    using back = dequantize(q, { dtype });
    const want = roundTo(dtype, dequantizeOracle(oracle, c.shape, c.block, c.format));
    const got = await back.toArray();
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) {
      if (got[i] !== want[i]) expect.fail(`${label(c)} dequantize ${dtype}: element ${i} is ${got[i]}, expected ${want[i]}`);
    }
  }
}

describe('quantize on the CPU matches the float64 oracle exactly', () => {
  const cpu = device('cpu');
  beforeAll(() => binding().setPoison('cpu', true));
  afterAll(() => binding().setPoison('cpu', false));

  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    await checkAgainstOracle(cpu, c);
  });

  it('quantization error stays within the format (dequantize ≈ x)', async () => {
    const r = rng('roundtrip');
    const x = r.randnArray(64 * 384);
    using t = cpu.tensor(x, { shape: [64, 384] });
    using q = quantize(t, { block: [1, 128] });
    using back = dequantize(q);
    // e4m3 keeps 3 mantissa bits: about 2^-4 relative error per element at most.
    expectClose('1x128 e4m3 round trip', await back.toArray(), x, 0.05);
  });

  it('all-zero blocks get the amax floor and zero codes', async () => {
    using t = cpu.zeros([2, 256], 'bf16');
    using q = quantize(t, { block: [1, 128] });
    expect(Array.from(await q.scales.toArray())).toEqual(new Array(4).fill(Math.fround(Math.fround(1e-4) / 448)));
    expect((await q.values.bytes()).every((b) => b === 0)).toBe(true);
  });

  it('ue8m0 scales are powers of two at or above the f32 scale', async () => {
    const x = rng('ue8m0').randnArray(8 * 1024, 3);
    using t = cpu.tensor(x, { shape: [8, 1024] });
    using q = quantize(t, { block: [1, 128], scaleFormat: 'ue8m0' });
    using f = quantize(t, { block: [1, 128] });
    const [pow2, plain] = [await q.scales.toArray(), await f.scales.toArray()];
    for (let i = 0; i < pow2.length; i++) {
      expect(Number.isInteger(Math.log2(pow2[i]!))).toBe(true);
      expect(pow2[i]!).toBeGreaterThanOrEqual(plain[i]!);
      expect(pow2[i]!).toBeLessThan(2 * plain[i]!);
    }
    expect(q.scaleFormat).toBe('ue8m0');
  });

  it('asQuantized wraps existing values and scales after checking their shapes', async () => {
    const x = rng('asQuantized').randnArray(130 * 200);
    const oracle = quantizeOracle(x, [130, 200], '128x128');
    const values = cpu.tensor(oracle.codes, { shape: [130, 200], dtype: 'e4m3' });
    const scales = cpu.tensor(oracle.scales, { shape: oracle.scaleShape });
    using q = asQuantized(values, scales, { block: [128, 128] });
    using back = dequantize(q);
    const want = dequantizeOracle(oracle, [130, 200], '128x128', 'e4m3');
    expectClose('asQuantized dequantize', await back.toArray(), want, 1e-7);
    using wrong = cpu.zeros([2, 1]);
    expect(() => asQuantized(values, wrong, { block: [128, 128] })).toThrow(
      'asQuantized: scales.shape must be [2, 2] for values of shape [130, 200], got [2, 1]',
    );
    expect(() => asQuantized(values, scales, { block: [1, 128] })).toThrow(RangeError);
  });
});

describe('quantize rejects bad input with the argument named', () => {
  const cpu = device('cpu');
  it('non-float input, bad options and ranks', () => {
    using i = cpu.zeros([4, 128], 'i32');
    using f = cpu.zeros([4, 128], 'f32');
    using v = cpu.zeros([128], 'f32');
    using s = cpu.zeros([], 'f32');
    expect(() => quantize(i, { block: [1, 128] })).toThrow("quantize: x.dtype must be 'f32', 'bf16' or 'f16', got 'i32'");
    expect(() => quantize(f, { block: [2, 128] as unknown as QuantBlock })).toThrow(
      "quantize: options.block must be [1, 128], [128, 128] or 'tensor', got an array of length 2",
    );
    expect(() => quantize(f, undefined as unknown as { block: QuantBlock })).toThrow(TypeError);
    expect(() => quantize(f, { block: [1, 128], format: 'e3m4' as 'e4m3' })).toThrow(
      "quantize: options.format must be one of 'e4m3', 'e5m2', got a string ('e3m4')",
    );
    expect(() => quantize(f, { block: [1, 128], scaleFormat: 'f16' as 'f32' })).toThrow(
      "quantize: options.scaleFormat must be one of 'f32', 'ue8m0', got a string ('f16')",
    );
    expect(() => quantize(v, { block: [128, 128] })).toThrow('quantize: x.shape must be of rank >= 2 for 128x128 blocks, got [128]');
    expect(() => quantize(s, { block: [1, 128] })).toThrow('quantize: x.shape must be of rank >= 1 for 1x128 blocks, got []');
    expect(() => quantize(f, { block: [1, 128], impl: 'v1' })).toThrow(
      "quantize: options.impl must be 'auto' or 'cpu' for tensors on the CPU, got 'v1'",
    );
    expect(() => quantize([1, 2] as never, { block: [1, 128] })).toThrow('quantize: x must be a Tensor, got an array of length 2');
  });

  it('dequantize needs a Quantized', () => {
    using f = device('cpu').zeros([4, 128], 'f32');
    expect(() => dequantize(f as unknown as Quantized)).toThrow('dequantize: q must be a Quantized (from quantize() or asQuantized()), got a Tensor');
    using q = quantize(f, { block: [1, 128] });
    expect(() => dequantize(q, { dtype: 'e4m3' as 'f32' })).toThrow(
      "dequantize: options.dtype must be one of 'f32', 'bf16', 'f16', got a string ('e4m3')",
    );
  });
});

const gpu = cudaDevice();
describe.skipIf(!gpu)(`quantize on CUDA matches the CPU bit for bit${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}`, () => {
  const versions = gpu ? kernelVersions().quantize!.map((v) => v.name) : [];
  beforeAll(() => gpu && binding().setPoison(gpu.id, true));
  afterAll(() => gpu && binding().setPoison(gpu.id, false));

  it.each(versions.flatMap((v) => CASES.map((c) => [`${v} ${label(c)}`, v, c] as const)))('%s', async (_, version, c) => {
    // A version may decline only what its contract says it declines (v2: rows of 16 bytes).
    await runPerContract('quantize', version, { ...c, sm: smOf(gpu!.info) }, () => checkAgainstOracle(gpu!, c, version));
  });

  const deepseek: Case[] = (
    [
      [[4096, 7168], '1x128'],
      [[7168, 2048], '128x128'],
      [[2112, 7168], '128x128'],
    ] as const
  ).map(([shape, block]) => ({ shape: [...shape], block, dtype: 'bf16', format: 'e4m3', ue8m0: false }));
  /** checkAgainstOracle() runs quantize, then dequantize to f32 and to bf16. */
  const work = (c: Case): number => 3 * EMULATED_COST.element * c.shape.reduce((a, b) => a * b, 1);
  // Too slow for the emulated GPU, shape by shape (the whole test when no shape fits).
  const skip = allTooLargeToEmulate(gpu, deepseek.map(work));
  it.skipIf(skip !== '').each(versions)(`%s on DeepSeek-V3 activation and weight shapes${skip ? ` (${skip})` : ''}`, async (version) => {
    for (const c of deepseek) {
      const tooLarge = tooLargeToEmulate(gpu, work(c));
      if (tooLarge) console.log(`quantize ${version} [${c.shape.join(', ')}] ${c.block}: ${tooLarge}`);
      else await runPerContract('quantize', version, { ...c, sm: smOf(gpu!.info) }, () => checkAgainstOracle(gpu!, c, version));
    }
  });
});
