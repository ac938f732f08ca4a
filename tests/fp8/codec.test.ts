// fp8.encode / fp8.decode and FP8 tensor casts against an independent
// implementation of the OCP FP8 definitions written here, in float64
// arithmetic (nothing shared with native/common/float_convert.h), plus the
// CUDA-header conformance check of that shared header when it is built.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { type Fp8Format, fp8 } from '../../lib/index.js';
import { expectCodes, f32Bits, hex, roundingPoints } from '../helpers/bits.js';
import { REPO_ROOT } from '../helpers/child.js';
import { testDevices } from '../helpers/devices.js';
import { rng } from '../helpers/rng.js';

// ---- The oracle: OCP FP8 from its definition --------------------------------

interface Fp8Spec {
  /** Mantissa bits (the exponent has the other 7 - M). */
  readonly man: number;
  readonly bias: number;
  /** Largest finite magnitude. */
  readonly max: number;
  /** IEEE style: exponent all ones is inf (mantissa 0) or NaN. E4M3 has no inf and only S.1111.111 is NaN. */
  readonly ieee: boolean;
}

const SPECS: Readonly<Record<Fp8Format, Fp8Spec>> = {
  e4m3: { man: 3, bias: 7, max: 448, ieee: false },
  e5m2: { man: 2, bias: 15, max: 57344, ieee: true },
};
const FORMATS: readonly Fp8Format[] = ['e4m3', 'e5m2'];
const NAN = 0x7f;

const f64 = new Float64Array(1);
const f64High = new Uint32Array(f64.buffer, 4, 1); // little-endian: sign, exponent and top mantissa bits

/** floor(log2(a)) for a normal double a > 0 (callers pass nothing below 2^-18): its unbiased exponent field. */
function exponentOf(a: number): number {
  f64[0] = a;
  return ((f64High[0]! >>> 20) & 0x7ff) - 1023;
}

/** The exact value of an FP8 code. */
function oracleDecode(format: Fp8Format, code: number): number {
  const { man: M, bias, ieee } = SPECS[format];
  const expAll = (1 << (7 - M)) - 1;
  const sign = code & 0x80 ? -1 : 1;
  const exp = (code >> M) & expAll;
  const mantissa = code & ((1 << M) - 1);
  if (ieee && exp === expAll) return mantissa === 0 ? sign * Infinity : NaN;
  if (!ieee && exp === expAll && mantissa === (1 << M) - 1) return NaN;
  if (exp === 0) return sign * mantissa * 2 ** (1 - bias - M);
  return sign * (2 ** M + mantissa) * 2 ** (exp - bias - M);
}

/** The code of a representable magnitude 0 < v <= max. */
function codeOfMagnitude(format: Fp8Format, v: number): number {
  const { man: M, bias } = SPECS[format];
  const minNormal = 2 ** (1 - bias);
  if (v < minNormal) return v / 2 ** (1 - bias - M); // subnormal: the mantissa counts 2^(1-bias-M)
  const e = exponentOf(v);
  return ((e + bias) << M) | (v / 2 ** (e - M) - 2 ** M);
}

/**
 * Encodes the exact value x: round to the nearest multiple of the quantum
 * 2^(max(e, 1-bias) - M) at x's binade, ties to the even multiple (the even
 * mantissa). Above max: saturate to ±max, else E4M3 NaN with x's sign and
 * E5M2 ±inf. A tie at max + half a step goes to whichever neighbour is even:
 * 448 (even) for E4M3, the next step (overflow) for E5M2's odd 57344.
 */
function oracleEncode(format: Fp8Format, x: number, saturate: boolean): number {
  const spec = SPECS[format];
  if (Number.isNaN(x)) return NAN;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  const overflow = sign | (saturate ? codeOfMagnitude(format, spec.max) : spec.ieee ? 0x7c : 0x7f);
  if (a >= 2 * spec.max) return overflow; // infinity too; no rounding comes back below max from here
  const smallestQuantum = 2 ** (1 - spec.bias - spec.man);
  if (a < smallestQuantum / 2) return sign; // nearer to zero than to the smallest subnormal (0 too)
  const quantum = 2 ** (Math.max(exponentOf(a), 1 - spec.bias) - spec.man);
  const scaled = a / quantum; // exact: a power-of-two divisor
  let k = Math.floor(scaled);
  const rest = scaled - k; // exact
  if (rest > 0.5 || (rest === 0.5 && k % 2 === 1)) k += 1;
  const v = k * quantum;
  if (v > spec.max) return overflow;
  return v === 0 ? sign : sign | codeOfMagnitude(format, v);
}

/** The oracle's codes for `values` in one saturation mode. */
function oracleCodes(format: Fp8Format, values: ArrayLike<number>, saturate: boolean): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = oracleEncode(format, values[i]!, saturate);
  return out;
}

/** Compares fp8.encode with the oracle on `values`, for both formats and both saturation modes. */
function checkAllModes(label: string, values: Float32Array | Float64Array): void {
  for (const format of FORMATS) {
    for (const saturate of [true, false]) {
      const got = fp8.encode(values, format, { saturate });
      expectCodes(`${label}: ${format} saturate=${saturate}`, got, oracleCodes(format, values, saturate), values);
    }
  }
}

// ---- Inputs -----------------------------------------------------------------

/** Non-negative finite values of `format` in increasing order, then the step past max. */
function grid(format: Fp8Format): number[] {
  const values: number[] = [];
  for (let c = 0; c < 0x80; c++) {
    const v = oracleDecode(format, c);
    if (Number.isFinite(v)) values.push(v);
  }
  const top = values[values.length - 1]!;
  return [...values, top + (top - values[values.length - 2]!)];
}

/** Every code's value, the midpoints to both neighbours, and 1 f32 ulp either side of each; both signs. */
function boundarySweep(format: Fp8Format): Float32Array {
  const specials = [Infinity, -Infinity, 3.4028234663852886e38, -3.4028234663852886e38, 0, -0];
  return Float32Array.from([...roundingPoints(grid(format)), ...specials]);
}

/** NaNs with assorted payloads and signs, which Float32Array keeps bit for bit. */
function nans(): Float32Array {
  return new Float32Array(Uint32Array.of(0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff, 0x7fa00000).buffer);
}

// ---- Tests --------------------------------------------------------------------

describe('the oracle', () => {
  it('matches hand-derived codes at the edges of both formats', () => {
    // [format, value, saturate, code]
    const cases: Array<[Fp8Format, number, boolean, number]> = [
      ['e4m3', 1, true, 0x38],
      ['e4m3', 448, false, 0x7e],
      ['e4m3', 464, false, 0x7e], // tie between 448 (even) and 480: stays finite
      ['e4m3', 464.0000001, false, 0x7f],
      ['e4m3', -480, false, 0xff],
      ['e4m3', 480, true, 0x7e],
      ['e4m3', Infinity, false, 0x7f],
      ['e4m3', -Infinity, true, 0xfe],
      ['e4m3', 2 ** -9, true, 0x01],
      ['e4m3', 2 ** -10, true, 0x00],
      ['e4m3', -(2 ** -10), true, 0x80],
      ['e4m3', 7.5 * 2 ** -9, true, 0x08],
      ['e5m2', 57344, false, 0x7b],
      ['e5m2', 61440, false, 0x7c], // tie between 57344 (odd) and 65536: overflows
      ['e5m2', 61439.99, false, 0x7b],
      ['e5m2', -61440, false, 0xfc],
      ['e5m2', 61440, true, 0x7b],
      ['e5m2', -Infinity, false, 0xfc],
      ['e5m2', 2 ** -16, true, 0x01],
      ['e5m2', 3 * 2 ** -17, true, 0x02],
      ['e5m2', NaN, true, 0x7f],
    ];
    for (const [format, value, saturate, code] of cases) {
      expect(hex(oracleEncode(format, value, saturate)), `${format}(${value}, saturate=${saturate})`).toBe(hex(code));
    }
  });
});

describe('fp8.decode', () => {
  it.each(FORMATS)('every %s code decodes to its exact value (NaN codes to NaN)', (format) => {
    const codes = Uint8Array.from({ length: 256 }, (_, c) => c);
    const got = fp8.decode(codes, format);
    expect(got).toBeInstanceOf(Float32Array);
    expect(got.length).toBe(256);
    const nanCodes: number[] = [];
    for (let c = 0; c < 256; c++) {
      const want = oracleDecode(format, c);
      if (Number.isNaN(want)) {
        nanCodes.push(c);
        expect(Number.isNaN(got[c]!), `${format} ${hex(c)} decodes to NaN`).toBe(true);
      } else {
        expect(Object.is(got[c], want), `${format} ${hex(c)}: got ${got[c]}, expected ${want}`).toBe(true);
      }
    }
    expect(nanCodes).toEqual(format === 'e4m3' ? [0x7f, 0xff] : [0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff]);
  });

  it.each(FORMATS)('%s: encode(decode(code)) gives the code back for every non-NaN code', (format) => {
    const codes = Uint8Array.from({ length: 256 }, (_, c) => c).filter((c) => !Number.isNaN(oracleDecode(format, c)));
    const values = fp8.decode(codes, format);
    expectCodes(`${format} round trip, not saturating`, fp8.encode(values, format, { saturate: false }), codes, values);
    // Saturating, infinities come back as ±max.
    const saturated = Array.from(codes, (c) => (Math.abs(oracleDecode(format, c)) === Infinity ? (c & 0x80) | 0x7b : c));
    expectCodes(`${format} round trip, saturating`, fp8.encode(values, format), saturated, values);
  });
});

describe('fp8.encode (Float32Array) against the oracle', () => {
  it('every bf16-representable float, both formats, both saturation modes', () => {
    const bits = Uint32Array.from({ length: 65536 }, (_, c) => c << 16);
    checkAllModes('bf16 codes widened to f32', new Float32Array(bits.buffer));
  });

  it.each(FORMATS)('around every %s code: values, midpoints and one f32 ulp either side', (format) => {
    checkAllModes(`${format} boundary sweep`, boundarySweep(format));
  });

  it('NaNs of every sign and payload encode as 0x7F', () => {
    const values = nans();
    for (const format of FORMATS) {
      for (const saturate of [true, false]) {
        expectCodes(`NaN ${format} saturate=${saturate}`, fp8.encode(values, format, { saturate }), new Uint8Array(values.length).fill(NAN), values);
      }
    }
  });

  it('the default is saturating', () => {
    const values = Float32Array.of(1000, -1000, Infinity, -Infinity, 464, 61440, 1e30);
    for (const format of FORMATS) expect(fp8.encode(values, format)).toEqual(fp8.encode(values, format, { saturate: true }));
  });

  it('2 million random f32 bit patterns and half a million random values near the range', () => {
    const r = rng('fp8 random');
    checkAllModes('random bit patterns', r.float32BitsArray(2_000_000));
    const inRange = new Float32Array(500_000);
    const view = new Uint32Array(inRange.buffer);
    for (let i = 0; i < inRange.length; i++) {
      // Exponents from below E4M3's and E5M2's smallest subnormal to above their max.
      view[i] = ((r.uint32() & 1) << 31) | ((127 + r.int(-20, 17)) << 23) | (r.uint32() & 0x7fffff);
    }
    checkAllModes('random values near the FP8 range', inRange);
  });
});

describe('fp8.encode (Float64Array) rounds once, from the double', () => {
  it('just off every midpoint, where rounding through f32 would land on the tie', () => {
    const values: number[] = [];
    for (const format of FORMATS) {
      const g = grid(format);
      for (let i = 0; i + 1 < g.length; i++) {
        const m = (g[i]! + g[i + 1]!) / 2;
        const tiny = Math.max(m * 2 ** -40, 2 ** -200);
        values.push(m + tiny, m - tiny, -(m + tiny), -(m - tiny));
      }
    }
    const f64 = Float64Array.from(values);
    const f32 = Float32Array.from(values);
    checkAllModes('midpoints +- a little (f64)', f64);
    checkAllModes('midpoints +- a little (the same through f32)', f32);
    // Half of these sit on the side where the f32 tie rounds the other way.
    for (const format of FORMATS) {
      const viaDouble = fp8.encode(f64, format);
      const viaFloat = fp8.encode(f32, format);
      const differ = viaDouble.filter((c, i) => c !== viaFloat[i]).length;
      expect(differ, `${format}: codes that depend on rounding from the double`).toBeGreaterThanOrEqual(values.length / 4);
    }
  });

  it('doubles beyond f32: huge, tiny, subnormal, and random 53-bit values', () => {
    const r = rng('fp8 doubles');
    const special = [1e300, -1e300, 1.7976931348623157e308, 1e-300, -1e-300, 5e-324, -5e-324, 464 + 2 ** -40, 464 - 2 ** -40, 61440 - 2 ** -30, 61440 + 2 ** -30];
    const random = Array.from({ length: 200_000 }, () => r.randn() * 2 ** r.int(-20, 17));
    checkAllModes('doubles', Float64Array.from([...special, ...random]));
  });
});

describe.each(testDevices().map((d) => [d.id, d] as const))('FP8 tensors on %s agree with fp8.encode', (_, dev) => {
  const r = rng(`fp8 casts ${dev.id}`);
  const n = 300_000;
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const pick = i % 4;
    values[i] = pick === 0 ? r.float32Bits() : pick === 1 ? r.randn() : pick === 2 ? r.randn() * 300 : r.randn() * 2 ** -8;
  }
  values.set(boundarySweep('e4m3').subarray(0, 2000), 0);
  values.set(boundarySweep('e5m2').subarray(0, 2000), 2000);

  it.each(FORMATS)('f32 -> %s by cast and by tensor()', async (format) => {
    const want = fp8.encode(values, format);
    using t = dev.tensor(values);
    using cast = t.cast(format);
    using made = dev.tensor(values, { dtype: format });
    using fromDouble = dev.tensor(Float64Array.from(values), { dtype: format });
    expectCodes(`cast f32->${format} on ${dev.id}`, await cast.bytes(), want, values);
    expectCodes(`tensor(Float32Array, ${format}) on ${dev.id}`, await made.bytes(), want, values);
    expectCodes(`tensor(Float64Array, ${format}) on ${dev.id}`, await fromDouble.bytes(), want, values);
  });

  it.each(FORMATS)('bf16 and f16 -> %s by cast', async (format) => {
    for (const wide of ['bf16', 'f16'] as const) {
      using t = dev.tensor(values, { dtype: wide });
      const exact = await t.toArray();
      using cast = t.cast(format);
      expectCodes(`cast ${wide}->${format} on ${dev.id}`, await cast.bytes(), fp8.encode(exact, format), exact);
    }
  });

  it.each(FORMATS)('%s -> f32 by cast and toArray() decode exactly', async (format) => {
    const codes = fp8.encode(values, format);
    using t = dev.tensor(codes, { dtype: format });
    using wide = t.cast('f32');
    const want = fp8.decode(codes, format);
    const canonical = (x: number): number => (Number.isNaN(x) ? 0x7fc00000 : f32Bits(x));
    expectCodes(`toArray ${format} on ${dev.id}`, Array.from(await t.toArray(), canonical), Array.from(want, canonical));
    expectCodes(`cast ${format}->f32 on ${dev.id}`, Array.from(await wide.toArray(), canonical), Array.from(want, canonical));
  });
});

const CHECK = join(REPO_ROOT, 'build', 'checks', 'moekit_conversions_check');
const checkBuilt = existsSync(CHECK);
if (!checkBuilt) console.log(`CUDA-header conformance check skipped: ${CHECK} is not built (CMake builds it when the CUDA toolkit is found)`);

describe('the shared conversion header against CUDA', () => {
  it.skipIf(!checkBuilt)(
    `moekit_conversions_check --stride 7 finds no mismatch${checkBuilt ? '' : ' (skipped: build/checks/moekit_conversions_check is not built; it needs the CUDA toolkit)'}`,
    async () => {
      const { stdout } = await promisify(execFile)(CHECK, ['--stride', '7'], { timeout: 110_000 });
      expect(stdout).toMatch(/checked \d+ floats \(stride 7\) and all codes: 0 mismatches/);
    },
  );
});
