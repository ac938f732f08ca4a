// The test helpers themselves: a comparison that cannot fail, or a
// generator that repeats itself, would make every suite built on them
// meaningless.
import { describe, expect, it } from 'vitest';

import { expectCodes, f32Bits, f32FromBits, nextDownF32, nextUpF32 } from './bits.js';
import { expectClose, fp8GemmDiff, relativeError } from './close.js';
import { cudaDevice, cudaSkipReason, testDevices } from './devices.js';
import { Rng, TEST_SEED, rng } from './rng.js';

describe('rng', () => {
  it('the same seed and stream repeat; other streams and seeds differ', () => {
    const draw = (r: Rng): number[] => Array.from({ length: 8 }, () => r.uint32());
    expect(draw(rng('a'))).toEqual(draw(rng('a')));
    expect(draw(new Rng(TEST_SEED, 'a'))).toEqual(draw(rng('a')));
    expect(draw(rng('a'))).not.toEqual(draw(rng('b')));
    expect(draw(new Rng(TEST_SEED ^ 1, 'a'))).not.toEqual(draw(rng('a')));
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
