// The test helpers themselves: a comparison that cannot fail, or a
// generator that repeats itself, would make every suite built on them
// meaningless.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { UnsupportedError, buildInfo, kernelVersions } from '../../lib/index.js';
import { expectCodes, f32Bits, f32FromBits, nextDownF32, nextUpF32 } from './bits.js';
import { expectClose, fp8GemmDiff, relativeError } from './close.js';
import { cudaDevice, cudaSkipReason, testDevices } from './devices.js';
import { REPO_ROOT } from './child.js';
import { gemmReference, roundTo } from './gemm_oracle.js';
import { Rng, TEST_SEED, rng } from './rng.js';
import { type Accumulator, UNIT_ROUNDOFF, accumulationBound, outputRounding, productTolerance } from './tolerance.js';
import { accumulatorOf, expectedRefusal, runPerContract } from './versions.js';

describe('rng', () => {
  it('the same seed and stream repeat; other streams and seeds differ', () => {
    const draw = (r: Rng): number[] => Array.from({ length: 8 }, () => r.uint32());
    expect(draw(rng('a'))).toEqual(draw(rng('a')));
    expect(draw(new Rng(TEST_SEED, 'a'))).toEqual(draw(rng('a')));
    expect(draw(rng('a'))).not.toEqual(draw(rng('b')));
    expect(draw(new Rng(TEST_SEED ^ 1, 'a'))).not.toEqual(draw(rng('a')));
  });

  it('tests draw random inputs only from the run seed (MOEKIT_TEST_SEED), so every failure can be rerun', () => {
    // tests/fuzz follows MOEKIT_FUZZ_SEED/MOEKIT_TEST_SEED on its own.
    const files = readdirSync(join(REPO_ROOT, 'tests'), { recursive: true, encoding: 'utf8' }).filter(
      (f) => /\.(ts|mjs|cc)$/.test(f) && !f.startsWith('fuzz') && f !== join('helpers', 'rng.ts') && f !== join('helpers', 'helpers.test.ts'),
    );
    const unseeded: string[] = [];
    for (const f of files) {
      const text = readFileSync(join(REPO_ROOT, 'tests', f), 'utf8');
      if (f.endsWith('.cc')) {
        // C++ host checks: std::random_device or rand() only as a fallback, the seed from MOEKIT_TEST_SEED.
        if (/random_device|\bs?rand\s*\(/.test(text) && !text.includes('MOEKIT_TEST_SEED')) unseeded.push(f);
      } else if (/Math\.random\s*\(|\bgetRandomValues\b|\brandomUUID\b|from ['"](node:)?crypto['"]/.test(text)) {
        unseeded.push(f);
      }
    }
    expect(files.length).toBeGreaterThan(20);
    expect(unseeded, 'draw random inputs from tests/helpers/rng.ts (rng(stream)); C++ checks read MOEKIT_TEST_SEED').toEqual([]);
  });

  it('uniform, int and randn stay in range and look like their distributions', () => {
    const r = rng('distributions');
    const n = 100_000;
    let sum = 0;
    let sumSq = 0;
    const seen = new Set<number>();
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform(-2, 3);
      if (!(u >= -2 && u < 3)) outside++;
      seen.add(r.int(-3, 3));
      const z = r.randn();
      sum += z;
      sumSq += z * z;
    }
    expect(outside).toBe(0);
    expect([...seen].sort((a, b) => a - b)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    // Standard errors: 1/sqrt(n) = 0.003 for the mean, sqrt(2/n) = 0.0045 for the variance.
    expect(Math.abs(sum / n)).toBeLessThan(0.02);
    expect(Math.abs(sumSq / n - 1)).toBeLessThan(0.03);
    expect(() => r.int(5, 4)).toThrow(RangeError);
  });

  it('float32Bits reaches every exponent, NaNs and infinities included', () => {
    const x = rng('bits').float32BitsArray(200_000);
    const exponents = new Set(Array.from(new Uint32Array(x.buffer), (b) => (b >>> 23) & 0xff));
    expect(exponents.size).toBe(256);
    expect(x.some(Number.isNaN)).toBe(true);
    expect(x.some((v) => v < 0)).toBe(true);
  });
});

describe('expectClose', () => {
  it('passes within the tolerance and reports the error', () => {
    const ref = [1, -2, 3, 4];
    const out = [1, -2, 3, 4.0001];
    const report = expectClose('close', out, ref, 1e-4);
    expect(report.error).toBeCloseTo(0.0001 / Math.sqrt(30), 12);
    expect(report.worst).toBe(3);
  });

  it('fails past the tolerance, naming label, seed, error, worst index and both values', () => {
    expect(() => expectClose('gemm 2x3', [0, 0, 0, 0, 9, 0], [0, 0, 0, 0, 1, 0], 1e-2, { shape: [2, 3] })).toThrow(
      /^gemm 2x3 \(seed \d+ \(rerun with MOEKIT_TEST_SEED=\d+\)\): relative L2 error 8\.000e\+0 is not below 0\.01 over 6 elements; worst at \[1, 1\] \(flat 4\): out=9, ref=1$/,
    );
  });

  it('requires NaN and infinities at the same indices, and never lets NaN pass as a number', () => {
    expectClose('same specials', [NaN, Infinity, -Infinity, 1], [NaN, Infinity, -Infinity, 1], 1e-6);
    expect(() => expectClose('nan', [NaN, 1], [0, 1], 1)).toThrow(/NaN output where the reference is finite at \[0\]/);
    expect(() => expectClose('inf', [1, -Infinity], [1, Infinity], 1)).toThrow(/-inf output where the reference is \+inf at \[1\]/);
    expect(() => expectClose('missing nan', [1, 1], [NaN, 1], 1)).toThrow(/finite output where the reference is NaN/);
    expect(() => expectClose('nan tol', [1], [1], NaN)).toThrow(/not below NaN/);
  });

  it('an all-zero reference asks the output to be near zero; lengths must match', () => {
    expectClose('zeros', [0, 0, 1e-9], [0, 0, 0], 1e-6);
    expect(() => expectClose('zeros', [0, 0.5], [0, 0], 1e-6)).toThrow(/relative L2 error 5\.000e-1/);
    expect(() => expectClose('length', [1, 2], [1, 2, 3], 1)).toThrow(/output has 2 elements, reference 3/);
  });

  it('relativeError sums in float64', () => {
    // In f32 the 1e-8 differences would vanish next to 1.
    const ref = new Float64Array(1000).fill(1);
    const out = ref.map((v) => v + 1e-8);
    expect(relativeError(out, ref).error).toBeCloseTo(1e-8, 14);
  });
});

describe('fp8GemmDiff', () => {
  it('is 0 for equal arrays and for two zero arrays, 1 for orthogonal, 2 for opposite, NaN with a NaN', () => {
    expect(fp8GemmDiff([1, 2, 3], [1, 2, 3])).toBeCloseTo(0, 15);
    expect(fp8GemmDiff([0, 0], [0, 0])).toBe(0);
    expect(fp8GemmDiff([1, 0], [0, 1])).toBe(1);
    expect(fp8GemmDiff([1, -2], [-1, 2])).toBe(2);
    expect(fp8GemmDiff([1, 2], [1.1, 2])).toBeCloseTo(1 - (2 * 5.1) / (5 + 5.21), 15);
    expect(fp8GemmDiff([NaN, 1], [1, 1])).toBeNaN();
    expect(() => fp8GemmDiff([1], [1, 2])).toThrow(RangeError);
  });
});

describe('bits', () => {
  it('f32 bit patterns and neighbours', () => {
    expect(f32Bits(1)).toBe(0x3f800000);
    expect(f32Bits(-0)).toBe(0x80000000);
    expect(f32FromBits(0x7f7fffff)).toBe(3.4028234663852886e38);
    expect(f32Bits(nextUpF32(1))).toBe(0x3f800001);
    expect(f32Bits(nextDownF32(1))).toBe(0x3f7fffff);
    expect(f32Bits(nextUpF32(-1))).toBe(0xbf7fffff);
    expect(f32Bits(nextUpF32(0))).toBe(0x00000001);
    expect(f32Bits(nextDownF32(0))).toBe(0x80000001);
  });

  it('expectCodes lists mismatches with their inputs', () => {
    expectCodes('same', [1, 2, 3], [1, 2, 3]);
    expect(() => expectCodes('fp8', [0x38, 0x7e], [0x38, 0x7f], Float32Array.of(1, 480))).toThrow(
      /fp8: 1 of 2 codes differ .*\n {2}\[1\] input 480 \(f32 0x43F00000\): got 0x7E, expected 0x7F/,
    );
    expect(() => expectCodes('length', [1], [1, 2])).toThrow(/got 1 codes, expected 2/);
  });
});

describe('devices', () => {
  it('lists the CPU first and names the GPU or why there is none', () => {
    const list = testDevices();
    expect(list[0]!.id).toBe('cpu');
    const gpu = cudaDevice();
    if (gpu) {
      expect(gpu.kind).toBe('cuda');
      expect(cudaSkipReason()).toBe('');
    } else {
      expect(list.every((d) => d.kind === 'cpu')).toBe(true);
      expect(cudaSkipReason().length).toBeGreaterThan(0);
    }
  });
});

/** The largest-magnitude f32 not above |x| in magnitude: x rounded to f32 toward zero. */
function truncateToF32(x: number): number {
  const f = Math.fround(x);
  return Math.abs(f) > Math.abs(x) ? nextDownF32(Math.abs(f)) * Math.sign(x) : f;
}

/**
 * C = A·Bᵀ for `rows` x `n` outputs, summed the way `accumulator` does in
 * f32 (simulated: each step rounded to f32, or truncated for tensor cores).
 */
function simulatedProduct(a: Float32Array, b: Float32Array, rows: number, n: number, k: number, accumulator: Accumulator): Float64Array {
  const out = new Float64Array(rows * n);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      if (accumulator === 'f32') {
        for (let t = 0; t < k; t++) acc = Math.fround(acc + a[i * k + t]! * b[j * k + t]!);
      } else {
        // k8 steps: exact products summed, then added to the accumulator with truncation.
        for (let t0 = 0; t0 < k; t0 += 8) {
          let step = 0;
          for (let t = t0; t < Math.min(k, t0 + 8); t++) step += a[i * k + t]! * b[j * k + t]!;
          acc = truncateToF32(acc + step);
        }
      }
      out[i * n + j] = acc;
    }
  }
  return out;
}

describe('tolerance', () => {
  it('rounding to nearest moves a value at most d(ref) + 2|acc − ref| from ref (d: distance to the grid)', () => {
    const r = rng('lipschitz');
    for (const dtype of ['bf16', 'f16'] as const) {
      for (let i = 0; i < 2000; i++) {
        const ref = r.randn() * 2 ** r.int(-6, 6);
        const acc = ref * (1 + r.uniform(-1, 1) * 2 ** -r.int(6, 24));
        const [out] = roundTo(dtype, [acc]);
        const [grid] = roundTo(dtype, [ref]);
        expect(Math.abs(out! - ref)).toBeLessThanOrEqual(Math.abs(grid! - ref) + 2 * Math.abs(acc - ref) + 1e-300);
      }
    }
  });

  it('the unit roundoffs and the rounding measured on a reference', () => {
    expect(UNIT_ROUNDOFF).toEqual({ f32: 2 ** -24, bf16: 2 ** -8, f16: 2 ** -11 });
    const ref = Float64Array.from(rng('rounding').randnArray(4096), (v) => v * 3.7);
    expect(outputRounding('f32', Float32Array.from(ref))).toBe(0);
    const bf16 = outputRounding('bf16', ref);
    expect(bf16).toBeGreaterThan(UNIT_ROUNDOFF.bf16 / 8);
    expect(bf16).toBeLessThan(UNIT_ROUNDOFF.bf16);
    expect(outputRounding('f16', ref)).toBeLessThan(UNIT_ROUNDOFF.f16);
    expect(() => productTolerance('f32', ref, 4, [])).toThrow(RangeError);
  });

  // K from 1 to the largest DeepSeek-V3 K, operands as bf16 stores them.
  describe.each([1, 17, 300, 2048, 16384])('K = %i', (k) => {
    const rows = 3;
    const n = 48;
    const r = rng(`tolerance K=${k}`);
    const a = Float32Array.from(roundTo('bf16', r.uniform24Array(rows * k)));
    const b = Float32Array.from(roundTo('bf16', r.uniform24Array(n * k)));
    const ref = gemmReference(a, b, n, k, [0, 1, 2]);

    it.each(['f32', 'tensor-core'] as const)('a %s accumulator stays within its bound; an output that went through bf16 does not', (accumulator) => {
      const acc = simulatedProduct(a, b, rows, n, k, accumulator);
      const tol = productTolerance('f32', ref, k, [accumulator]);
      expect(relativeError(acc, ref).error).toBeLessThan(accumulationBound(accumulator, k));
      expectClose(`${accumulator} f32 out`, roundTo('f32', acc), ref, tol);
      // The bug an f32 tolerance set by the input dtype (1e-2) let through.
      expect(relativeError(roundTo('bf16', acc), ref).error).toBeGreaterThan(2 * tol);
      // A bf16 output is judged by its own rounding plus the accumulation.
      expectClose(`${accumulator} bf16 out`, roundTo('bf16', acc), ref, productTolerance('bf16', ref, k, [accumulator]));
    });

    it('an FP8 scale off by 1e-3 on one output column in eight fails with f32 output', () => {
      const skewed = ref.map((v, i) => (i % 8 === 7 ? v * 1.003 : v));
      expect(relativeError(roundTo('f32', skewed), ref).error).toBeGreaterThan(2 * productTolerance('f32', ref, k, ['f32']));
    });
  });
});

describe('version contracts', () => {
  const sm = 90;
  it('say where each version refuses: dtype, K alignment, formats, row bytes', () => {
    expect(expectedRefusal('gemm', 'v1', { m: 129, n: 7, k: 3, dtype: 'f32', sm })).toBeUndefined();
    expect(expectedRefusal('gemm', 'v2', { m: 4, n: 4, k: 16, dtype: 'f32', sm })?.test("gemm: impl 'v2': a and b must be bf16 or f16 (f32 operands run on v1)")).toBe(true);
    expect(expectedRefusal('gemm', 'v2', { m: 4, n: 4, k: 12, dtype: 'bf16', sm })?.test("gemm: impl 'v2': k must be a multiple of 8 (rows are copied in 16-byte pieces)")).toBe(true);
    expect(expectedRefusal('gemm', 'v2', { m: 4096, n: 7168, k: 2048, dtype: 'bf16', sm })).toBeUndefined();
    expect(expectedRefusal('fp8Gemm', 'v2', { m: 1, n: 1, k: 300, aFormat: 'e4m3', bFormat: 'e4m3', sm })).toBeDefined();
    expect(expectedRefusal('fp8Gemm', 'v3', { m: 1, n: 1, k: 128, aFormat: 'e5m2', bFormat: 'e4m3', sm })?.test("fp8Gemm: impl 'v3': a and b must both be e4m3 (wgmma e4m3 x e4m3 only)")).toBe(true);
    expect(expectedRefusal('fp8Gemm', 'v3', { m: 64, n: 7168, k: 16384, aFormat: 'e4m3', bFormat: 'e4m3', sm })).toBeUndefined();
    expect(expectedRefusal('quantize', 'v2', { shape: [3, 127], block: '1x128', dtype: 'bf16', sm })).toBeDefined();
    expect(expectedRefusal('quantize', 'v2', { shape: [3, 127], block: 'tensor', dtype: 'bf16', sm })).toBeUndefined();
    expect(expectedRefusal('quantize', 'v2', { shape: [2, 129, 300], block: '128x128', dtype: 'f32', sm })).toBeUndefined();
    expect(accumulatorOf('fp8Gemm', 'v2', { m: 1, n: 1, k: 16, aFormat: 'e4m3', bFormat: 'e4m3', sm: 80 })).toBe('tensor-core');
    expect(accumulatorOf('fp8Gemm', 'v3', { m: 1, n: 1, k: 16, aFormat: 'e4m3', bFormat: 'e4m3', sm })).toBe('fp8-tensor-core');
  });

  it.skipIf(!buildInfo().cuda)(`take the architecture range from the version table${buildInfo().cuda ? '' : ' (skipped: the addon was built without CUDA)'}`, () => {
    for (const [op, list] of Object.entries(kernelVersions())) {
      for (const v of list) {
        const refusal = expectedRefusal(op as 'gemm', v.name, { m: 1, n: 1, k: 128, dtype: 'bf16', sm: v.minSm - 1 });
        expect(refusal?.test(`${op}: impl '${v.name}' needs compute capability ${v.minSm / 10} or newer; this GPU is sm_${v.minSm - 1}`)).toBe(true);
      }
    }
  });

  const call = { m: 3, n: 2112, k: 7168, dtype: 'bf16', sm } as const;
  const refuse = (why: string) => () => {
    throw new UnsupportedError(`gemm: impl 'v2': ${why}`);
  };

  it('a version that refuses a call it documents as supported fails its test', async () => {
    await expect(runPerContract('gemm', 'v2', call, refuse('k must be at most 4096'))).rejects.toThrow(
      /gemm v2 on .*"k":7168.*: refused a call it documents as supported: gemm: impl 'v2': k must be at most 4096/,
    );
  });

  it('a documented refusal passes only with its documented reason; a call that should be refused must not run', async () => {
    const f32 = { ...call, dtype: 'f32' } as const;
    await expect(runPerContract('gemm', 'v2', f32, refuse('a and b must be bf16 or f16 (f32 operands run on v1)'))).resolves.toBe('refused');
    await expect(runPerContract('gemm', 'v2', f32, refuse('out of registers'))).rejects.toThrow(/refused for another reason than documented/);
    await expect(runPerContract('gemm', 'v2', f32, () => 1)).rejects.toThrow(/ran a call its contract says it refuses/);
    await expect(runPerContract('gemm', 'v2', call, () => 42)).resolves.toBe(42);
    await expect(runPerContract('gemm', 'v2', call, () => Promise.reject(new RangeError('bad')))).rejects.toThrow(RangeError);
  });

  it('a version without a contract fails its tests', async () => {
    await expect(runPerContract('gemm', 'v9', call, () => 1)).rejects.toThrow(/gemm v9 has no contract in tests\/helpers\/versions.ts/);
  });
});
