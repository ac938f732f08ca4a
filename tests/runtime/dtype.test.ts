// Conversions between dtypes, bit for bit: tensor creation, casts between
// every pair, and reads, on every device present. Expected storage comes
// from hand-derived boundary tables and from tests/helpers/dtype_oracle.ts,
// never from the library.
import { describe, expect, it } from 'vitest';

import { DTYPES, type DType, type Device, type Tensor, type TensorData } from '../../lib/index.js';
import { expectCodes, f32Bits, roundingPoints } from '../helpers/bits.js';
import { cudaDevice, cudaSkipReason, testDevices } from '../helpers/devices.js';
import {
  type NarrowDType,
  codeBits,
  codesOf,
  decodeNarrow,
  decodeStorage,
  encodeStorage,
  finiteValues,
  maxFinite,
  nanCode,
} from '../helpers/dtype_oracle.js';
import { rng } from '../helpers/rng.js';

const NARROW: readonly NarrowDType[] = ['bf16', 'f16', 'e4m3', 'e5m2'];
const gpu = cudaDevice();

interface Boundary {
  /** f32 bit pattern of the input. */
  readonly input: number;
  /** The code the conversion must store (FP8: saturating, as casts are). */
  readonly code: number;
  readonly why: string;
}

// Derived by hand from the format definitions; see each `why`.
const BOUNDARIES: Readonly<Record<NarrowDType, readonly Boundary[]>> = {
  bf16: [
    { input: 0x3f800000, code: 0x3f80, why: '1 is exact' },
    { input: 0x3f808000, code: 0x3f80, why: '1 + 2^-8: tie rounds down to the even mantissa' },
    { input: 0x3f818000, code: 0x3f82, why: '1 + 3*2^-8: tie rounds up to the even mantissa' },
    { input: 0x3f808001, code: 0x3f81, why: 'one ulp above a tie rounds up' },
    { input: 0x3f807fff, code: 0x3f80, why: 'one ulp below a tie rounds down' },
    { input: 0xbf808000, code: 0xbf80, why: 'negative tie rounds to even (toward zero)' },
    { input: 0xbf818000, code: 0xbf82, why: 'negative tie rounds to even (away from zero)' },
    { input: 0x7f7f0000, code: 0x7f7f, why: 'largest finite bf16' },
    { input: 0x7f7f7fff, code: 0x7f7f, why: 'just below max + half an ulp stays finite' },
    { input: 0x7f7f8000, code: 0x7f80, why: 'max + half an ulp: tie, odd max mantissa, overflows to inf' },
    { input: 0x7f7fffff, code: 0x7f80, why: 'f32 max overflows to inf' },
    { input: 0xff7f8000, code: 0xff80, why: 'negative overflow to -inf' },
    { input: 0xff7f7fff, code: 0xff7f, why: 'just above -(max + half an ulp) stays finite' },
    { input: 0x7f800000, code: 0x7f80, why: '+inf' },
    { input: 0xff800000, code: 0xff80, why: '-inf' },
    { input: 0x7fc00000, code: 0x7fff, why: 'quiet NaN becomes the canonical NaN' },
    { input: 0xffc00000, code: 0x7fff, why: 'negative NaN becomes the canonical (positive) NaN' },
    { input: 0x7f800001, code: 0x7fff, why: 'NaN with a low payload must not truncate to inf' },
    { input: 0x00000000, code: 0x0000, why: '+0' },
    { input: 0x80000000, code: 0x8000, why: '-0 keeps its sign' },
    { input: 0x00000001, code: 0x0000, why: 'smallest f32 subnormal rounds to 0' },
    { input: 0x00008000, code: 0x0000, why: 'half the smallest bf16 subnormal: tie rounds to 0 (even)' },
    { input: 0x00008001, code: 0x0001, why: 'just above half the smallest subnormal' },
    { input: 0x00010000, code: 0x0001, why: 'smallest bf16 subnormal' },
    { input: 0x00018000, code: 0x0002, why: 'tie between subnormals 1 and 2 rounds to 2' },
    { input: 0x007f0000, code: 0x007f, why: 'largest bf16 subnormal' },
    { input: 0x007f8000, code: 0x0080, why: 'tie between the largest subnormal and the smallest normal' },
    { input: 0x007fffff, code: 0x0080, why: 'largest f32 subnormal rounds to the smallest normal' },
    { input: 0x80008001, code: 0x8001, why: 'negative subnormal' },
    { input: 0x80008000, code: 0x8000, why: 'negative tie with zero gives -0' },
  ],
  f16: [
    { input: 0x3f800000, code: 0x3c00, why: '1 is exact' },
    { input: 0x3f801000, code: 0x3c00, why: '1 + 2^-11: tie rounds down to the even mantissa' },
    { input: 0x3f803000, code: 0x3c02, why: '1 + 3*2^-11: tie rounds up to the even mantissa' },
    { input: 0x3f801001, code: 0x3c01, why: 'one ulp above a tie' },
    { input: 0x3f800fff, code: 0x3c00, why: 'one ulp below a tie' },
    { input: 0xbf801000, code: 0xbc00, why: 'negative tie toward zero' },
    { input: 0xbf803000, code: 0xbc02, why: 'negative tie away from zero' },
    { input: 0x477fe000, code: 0x7bff, why: '65504, the largest finite f16' },
    { input: 0x477fefff, code: 0x7bff, why: 'just below 65520 stays finite' },
    { input: 0x477ff000, code: 0x7c00, why: '65520 = max + half an ulp: tie, odd max mantissa, overflows' },
    { input: 0x47800000, code: 0x7c00, why: '65536 overflows' },
    { input: 0xc77ff000, code: 0xfc00, why: '-65520 overflows to -inf' },
    { input: 0xc77fe000, code: 0xfbff, why: '-65504' },
    { input: 0x7f800000, code: 0x7c00, why: '+inf' },
    { input: 0xff800000, code: 0xfc00, why: '-inf' },
    { input: 0x7fc00000, code: 0x7fff, why: 'NaN becomes the canonical NaN' },
    { input: 0xffc00000, code: 0x7fff, why: 'negative NaN becomes the canonical NaN' },
    { input: 0x7f800001, code: 0x7fff, why: 'NaN with a low payload stays NaN' },
    { input: 0x00000000, code: 0x0000, why: '+0' },
    { input: 0x80000000, code: 0x8000, why: '-0' },
    { input: 0x33800000, code: 0x0001, why: '2^-24, the smallest f16 subnormal' },
    { input: 0x33000000, code: 0x0000, why: '2^-25: tie with zero rounds to 0' },
    { input: 0x33000001, code: 0x0001, why: 'just above 2^-25' },
    { input: 0x33c00000, code: 0x0002, why: '3*2^-25: tie between subnormals 1 and 2' },
    { input: 0x32800000, code: 0x0000, why: '2^-26 underflows' },
    { input: 0xb2800000, code: 0x8000, why: '-2^-26 underflows to -0' },
    { input: 0x387fc000, code: 0x03ff, why: 'largest f16 subnormal' },
    { input: 0x387fe000, code: 0x0400, why: 'tie between the largest subnormal and the smallest normal' },
    { input: 0x38800000, code: 0x0400, why: '2^-14, the smallest normal' },
    { input: 0xb3800000, code: 0x8001, why: '-2^-24' },
  ],
  e4m3: [
    { input: 0x3f800000, code: 0x38, why: '1 is exact' },
    { input: 0x3f880000, code: 0x38, why: '1 + 2^-4: tie rounds down to even' },
    { input: 0x3f980000, code: 0x3a, why: '1 + 3*2^-4: tie rounds up to even' },
    { input: 0x3f880001, code: 0x39, why: 'one ulp above a tie' },
    { input: 0x43e00000, code: 0x7e, why: '448, the largest finite e4m3' },
    { input: 0x43e80000, code: 0x7e, why: '464 = max + half a step: tie, even max mantissa, stays 448' },
    { input: 0x43e80001, code: 0x7e, why: 'just above 464 saturates to 448' },
    { input: 0x43f00000, code: 0x7e, why: '480 saturates' },
    { input: 0xc3e80000, code: 0xfe, why: '-464 gives -448' },
    { input: 0x7f800000, code: 0x7e, why: '+inf saturates to 448' },
    { input: 0xff800000, code: 0xfe, why: '-inf saturates to -448' },
    { input: 0x7fc00000, code: 0x7f, why: 'NaN' },
    { input: 0xffc00000, code: 0x7f, why: 'negative NaN gives the canonical NaN' },
    { input: 0x00000000, code: 0x00, why: '+0' },
    { input: 0x80000000, code: 0x80, why: '-0' },
    { input: 0x3b000000, code: 0x01, why: '2^-9, the smallest subnormal' },
    { input: 0x3a800000, code: 0x00, why: '2^-10: tie with zero rounds to 0' },
    { input: 0x3a800001, code: 0x01, why: 'just above 2^-10' },
    { input: 0x3b400000, code: 0x02, why: '3*2^-10: tie between subnormals 1 and 2' },
    { input: 0x3c600000, code: 0x07, why: '7*2^-9, the largest subnormal' },
    { input: 0x3c700000, code: 0x08, why: '7.5*2^-9: tie with the smallest normal' },
    { input: 0xbb000000, code: 0x81, why: '-2^-9' },
  ],
  e5m2: [
    { input: 0x3f800000, code: 0x3c, why: '1 is exact' },
    { input: 0x3f900000, code: 0x3c, why: '1 + 2^-3: tie rounds down to even' },
    { input: 0x3fb00000, code: 0x3e, why: '1 + 3*2^-3: tie rounds up to even' },
    { input: 0x3f900001, code: 0x3d, why: 'one ulp above a tie' },
    { input: 0x47600000, code: 0x7b, why: '57344, the largest finite e5m2' },
    { input: 0x47700000, code: 0x7b, why: '61440 = max + half a step saturates' },
    { input: 0x7f800000, code: 0x7b, why: '+inf saturates' },
    { input: 0xff800000, code: 0xfb, why: '-inf saturates' },
    { input: 0x7fc00000, code: 0x7f, why: 'NaN' },
    { input: 0x80000000, code: 0x80, why: '-0' },
    { input: 0x37800000, code: 0x01, why: '2^-16, the smallest subnormal' },
    { input: 0x37000000, code: 0x00, why: '2^-17: tie with zero rounds to 0' },
    { input: 0x37c00000, code: 0x02, why: '3*2^-17: tie between subnormals 1 and 2' },
    { input: 0x38400000, code: 0x03, why: '3*2^-16, the largest subnormal' },
    { input: 0x38600000, code: 0x04, why: '3.5*2^-16: tie with the smallest normal' },
  ],
};

function f32Array(bits: readonly number[]): Float32Array {
  return new Float32Array(Uint32Array.from(bits).buffer);
}

async function codesOfTensor(t: Tensor): Promise<number[]> {
  return codesOf(t.dtype, await t.bytes());
}

/** f32 inputs at every rounding decision of `format` (see {@link roundingPoints}). */
function roundingBoundaries(format: NarrowDType): Float32Array {
  const values = finiteValues(format);
  const top = maxFinite(format);
  return roundingPoints([...values, top + (top - values[values.length - 2]!)]);
}

/** Raw storage codes of `dtype` that cover its interesting values. */
function sampleCodes(dtype: DType): number[] {
  const r = rng(`dtype sample ${dtype}`);
  switch (dtype) {
    case 'bf16':
    case 'f16': return Array.from({ length: 65536 }, (_, c) => c);
    case 'e4m3':
    case 'e5m2':
    case 'u8': return Array.from({ length: 256 }, (_, c) => c);
    case 'i32': {
      const special = [0, 1, -1, 255, 256, -255, 2147483647, -2147483648, 2147483520, -2147483520, 16777217, 16777219, 448, 464, 465, 57344, 61440, 65504, 65520, 65536];
      return [...special, ...Array.from({ length: 8192 }, () => r.uint32() | 0), ...Array.from({ length: 8192 }, () => r.int(-70000, 70000))];
    }
    case 'f32': {
      const special = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xffbfffff, 0x7f7fffff, 0xff7fffff, 0x00000001, 0x007fffff, 0x00800000];
      const ints = [2 ** 31, -(2 ** 31), 2 ** 31 - 128, -(2 ** 31) - 256, 255.5, 256, -0.5, 0.5, 1.5, -1.5, 254.99998].map(f32Bits);
      const boundaries = NARROW.flatMap((f) => Array.from(roundingBoundaries(f).filter((_, i) => i % 7 === 0), f32Bits));
      return [...special, ...ints, ...boundaries, ...Array.from({ length: 8192 }, () => r.uint32()), ...Array.from(r.randnArray(8192, 100), f32Bits)];
    }
  }
}

/** A tensor of `dtype` holding the raw storage `codes`. */
function tensorOfCodes(dev: Device, dtype: DType, codes: readonly number[]): Tensor {
  switch (dtype) {
    case 'f32': return dev.tensor(new Float32Array(Uint32Array.from(codes).buffer));
    case 'bf16':
    case 'f16': return dev.tensor(Uint16Array.from(codes), { dtype });
    case 'e4m3':
    case 'e5m2': return dev.tensor(Uint8Array.from(codes), { dtype });
    case 'i32': return dev.tensor(Int32Array.from(codes));
    case 'u8': return dev.tensor(Uint8Array.from(codes));
  }
}

describe('dtype oracle', () => {
  it.each(NARROW)('agrees with the hand-derived %s boundary table', (format) => {
    const cases = BOUNDARIES[format];
    const inputs = f32Array(cases.map((c) => c.input));
    expectCodes(`oracle ${format}`, Array.from(inputs, (x) => encodeStorage(format, x)), cases.map((c) => c.code), inputs);
  });
});

describe.each(testDevices().map((d) => [d.id, d] as const))('dtype conversions on %s', (_, dev) => {
  it.each(NARROW)('f32 -> %s on the boundary table, by cast and by tensor()', async (format) => {
    const cases = BOUNDARIES[format];
    const inputs = f32Array(cases.map((c) => c.input));
    const want = cases.map((c) => c.code);
    using src = dev.tensor(inputs);
    using cast = src.cast(format);
    using made = dev.tensor(inputs, { dtype: format });
    expectCodes(`cast f32->${format} on ${dev.id}`, await codesOfTensor(cast), want, inputs);
    expectCodes(`tensor(Float32Array, ${format}) on ${dev.id}`, await codesOfTensor(made), want, inputs);
  });

  it.each(NARROW)('f32 -> %s at every rounding boundary (values, midpoints, +-1 ulp, both signs)', async (format) => {
    const inputs = roundingBoundaries(format);
    using src = dev.tensor(inputs);
    using cast = src.cast(format);
    expectCodes(`cast f32->${format} on ${dev.id}`, await codesOfTensor(cast), Array.from(inputs, (x) => encodeStorage(format, x)), inputs);
  });

  it.each(NARROW)('every %s code decodes exactly and round-trips through f32', async (format) => {
    const codes = Array.from({ length: 1 << codeBits(format) }, (_, c) => c);
    using t = tensorOfCodes(dev, format, codes);
    expectCodes(`${format} storage on ${dev.id}`, await codesOfTensor(t), codes);
    const values = await t.toArray();
    const decodedBits = Array.from(values, (v) => (Number.isNaN(v) ? -1 : f32Bits(v)));
    const wantBits = codes.map((c) => {
      const v = decodeNarrow(format, c);
      return Number.isNaN(v) ? -1 : f32Bits(v);
    });
    expectCodes(`${format} toArray on ${dev.id} (NaN shown as -1)`, decodedBits, wantBits);
    using wide = t.cast('f32');
    expectCodes(`cast ${format}->f32 on ${dev.id}`, await codesOfTensor(wide), codes.map((c) => encodeStorage('f32', decodeNarrow(format, c))));
    using back = wide.cast(format);
    // Finite codes come back unchanged; NaNs come back canonical, and
    // e5m2's infinities saturate as every cast to FP8 does.
    const want = codes.map((c) => {
      const v = decodeNarrow(format, c);
      if (Number.isNaN(v)) return nanCode(format);
      return Number.isFinite(v) ? c : encodeStorage(format, v);
    });
    expectCodes(`cast ${format}->f32->${format} on ${dev.id}`, await codesOfTensor(back), want);
  });

  it('i32 and u8 hold their full ranges', async () => {
    const i32 = [-2147483648, 2147483647, 0, -1, 1, 123456789];
    using a = dev.tensor(Int32Array.from(i32));
    using b = dev.tensor(i32, { dtype: 'i32' });
    expect(Array.from(await a.toArray())).toEqual(i32);
    expectCodes(`i32 from number[] on ${dev.id}`, await codesOfTensor(b), i32);
    const u8 = [0, 1, 127, 128, 254, 255];
    using c = dev.tensor(Uint8Array.from(u8));
    using d = dev.tensor(u8, { dtype: 'u8' });
    expect(await c.toArray()).toBeInstanceOf(Uint8Array);
    expect(Array.from(await c.toArray())).toEqual(u8);
    expectCodes(`u8 from number[] on ${dev.id}`, await codesOfTensor(d), u8);
  });

  it('float -> int casts truncate toward zero, saturate and map NaN to 0', async () => {
    const inputs = [NaN, -NaN, Infinity, -Infinity, 2 ** 31, 2 ** 31 - 128, -(2 ** 31), -(2 ** 31) - 256, 1.9, -1.9, -0.5, 0.5, 255.9, 256, -1, 3e9, -3e9, -0];
    const wantI32 = [0, 0, 2147483647, -2147483648, 2147483647, 2147483520, -2147483648, -2147483648, 1, -1, 0, 0, 255, 256, -1, 2147483647, -2147483648, 0];
    const wantU8 = [0, 0, 255, 0, 255, 255, 0, 0, 1, 0, 0, 0, 255, 255, 0, 255, 0, 0];
    const f32 = Float32Array.from(inputs);
    using src = dev.tensor(f32);
    using toI32 = src.cast('i32');
    using toU8 = src.cast('u8');
    expectCodes(`cast f32->i32 on ${dev.id}`, await codesOfTensor(toI32), wantI32, f32);
    expectCodes(`cast f32->u8 on ${dev.id}`, await codesOfTensor(toU8), wantU8, f32);
    using wide = dev.tensor(Int32Array.from([-5, 0, 255, 256, 1_000_000, -2147483648]));
    using narrowed = wide.cast('u8');
    expectCodes(`cast i32->u8 on ${dev.id}`, await codesOfTensor(narrowed), [0, 0, 255, 255, 255, 0]);
  });

  it('int -> float casts round to nearest even and FP8 saturates', async () => {
    using ints = dev.tensor(Int32Array.from([16777217, 16777219, 2147483647, 257, 259, 1000, -1000]));
    using f32 = ints.cast('f32');
    using bf16 = ints.cast('bf16');
    using e4m3 = ints.cast('e4m3');
    expectCodes(`cast i32->f32 on ${dev.id}`, await codesOfTensor(f32), [0x4b800000, 0x4b800002, 0x4f000000, 0x43808000, 0x43818000, 0x447a0000, 0xc47a0000]);
    expectCodes(`cast i32->bf16 on ${dev.id}`, (await codesOfTensor(bf16)).slice(3, 5), [0x4380, 0x4382]);
    expectCodes(`cast i32->e4m3 on ${dev.id}`, (await codesOfTensor(e4m3)).slice(5), [0x7e, 0xfe]);
    using bytes = dev.tensor(Uint8Array.from([255, 240, 248]));
    using fp8 = bytes.cast('e4m3');
    // 255 lies between 240 (0x77) and 256 (0x78); 248 is their midpoint and 0x78 is even.
    expectCodes(`cast u8->e4m3 on ${dev.id}`, await codesOfTensor(fp8), [0x78, 0x77, 0x78]);
  });

  it('tensor() from number[] and Float64Array rounds once, from the double', async () => {
    // Each value is a tie plus a little: rounded through f32 first it would
    // land on the tie and go to even; rounded from the double it goes up.
    const cases: Array<[DType, number, number]> = [
      ['bf16', 1 + 2 ** -8 + 2 ** -30, 0x3f81],
      ['f16', 1 + 2 ** -11 + 2 ** -40, 0x3c01],
      ['e4m3', 1 + 2 ** -4 + 2 ** -40, 0x39],
      ['e5m2', 1 + 2 ** -3 + 2 ** -40, 0x3d],
      ['f32', 1 + 2 ** -24 + 2 ** -50, 0x3f800001],
    ];
    for (const [dtype, value, code] of cases) {
      using fromArray = dev.tensor([value], { dtype });
      using fromF64 = dev.tensor(Float64Array.of(value), { dtype });
      using fromF32 = dev.tensor(Float32Array.of(value), { dtype });
      expectCodes(`tensor(number[], ${dtype}) on ${dev.id}`, await codesOfTensor(fromArray), [code], [value]);
      expectCodes(`tensor(Float64Array, ${dtype}) on ${dev.id}`, await codesOfTensor(fromF64), [code], [value]);
      // The Float32Array holds the tie itself, which rounds to the even code.
      expectCodes(`tensor(Float32Array, ${dtype}) on ${dev.id}`, await codesOfTensor(fromF32), [dtype === 'f32' ? f32Bits(value) : code - 1], [Math.fround(value)]);
    }
  });

  it('tensor() takes raw storage from the matching typed array and converts the rest', async () => {
    // Raw: bytes kept as they are, NaN payloads included.
    const f32Raw = f32Array([0x7f800001, 0xffc00001, 0x3f800000]);
    using a = dev.tensor(f32Raw);
    expect(a.dtype).toBe('f32');
    expectCodes(`raw f32 on ${dev.id}`, await codesOfTensor(a), [0x7f800001, 0xffc00001, 0x3f800000]);
    for (const dtype of ['f16', 'bf16'] as const) {
      const bits = [0x7c01, 0xffff, 0x8000, 0x3c00, 0x0001];
      using t = dev.tensor(Uint16Array.from(bits), { dtype });
      expectCodes(`raw ${dtype} on ${dev.id}`, await codesOfTensor(t), bits);
    }
    for (const dtype of ['e4m3', 'e5m2', 'u8'] as const) {
      const codes = [0x00, 0x80, 0x7f, 0xff, 0x38, 0x7e, 0xfc];
      using t = dev.tensor(Uint8Array.from(codes), { dtype });
      expectCodes(`raw ${dtype} on ${dev.id}`, await codesOfTensor(t), codes);
    }
    using i = dev.tensor(Int32Array.of(-7, 2147483647));
    expect(i.dtype).toBe('i32');
    expectCodes(`raw i32 on ${dev.id}`, await codesOfTensor(i), [-7, 2147483647]);

    // Converted: every other (typed array, dtype) pair goes element by element.
    const converted: Array<[string, Exclude<TensorData, readonly number[]>, DType, number[]]> = [
      ['Uint8Array as f32', Uint8Array.of(0, 1, 255), 'f32', [0, 1, 255]],
      ['Uint16Array as f32', Uint16Array.of(0, 65535, 0x3c00), 'f32', [0, 65535, 0x3c00]],
      ['Uint16Array as i32', Uint16Array.of(65535), 'i32', [65535]],
      ['Int32Array as bf16', Int32Array.of(257, -3), 'bf16', [257, -3]],
      ['Int8Array as f16', Int8Array.of(-128, 127), 'f16', [-128, 127]],
      ['Int16Array as e5m2', Int16Array.of(-32768, 300), 'e5m2', [-32768, 300]],
      ['Uint32Array as f32', Uint32Array.of(4294967295, 16777217), 'f32', [4294967295, 16777217]],
      ['Uint8ClampedArray as e4m3', Uint8ClampedArray.of(0, 200, 255), 'e4m3', [0, 200, 255]],
      ['Float32Array as i32', Float32Array.of(-5, 16777216), 'i32', [-5, 16777216]],
      ['Float64Array as u8', Float64Array.of(0, 255), 'u8', [0, 255]],
    ];
    for (const [what, data, dtype, values] of converted) {
      using t = dev.tensor(data, { dtype });
      expect(t.dtype).toBe(dtype);
      expectCodes(`${what} on ${dev.id}`, await codesOfTensor(t), values.map((v) => encodeStorage(dtype, v)), values);
    }
    using defaultF32 = dev.tensor(Uint16Array.of(7));
    expect(defaultF32.dtype).toBe('f32');
  });

  it.each(DTYPES)('tensor() of dtype %s from Float64Array stores the oracle codes', async (dtype) => {
    const r = rng(`tensor f64 ${dtype} ${dev.id}`);
    let values: number[];
    if (dtype === 'i32') {
      values = [-2147483648, 2147483647, 0, ...Array.from({ length: 4096 }, () => r.int(-2147483648, 2147483647))];
    } else if (dtype === 'u8') {
      values = Array.from({ length: 256 }, (_, i) => i);
    } else {
      const special = [0, -0, Infinity, -Infinity, NaN, 5e-324, -5e-324, 1.7976931348623157e308, 65504, 65520, 448, 464, 57344, 61440, 3.4e38];
      values = [
        ...special,
        ...Array.from({ length: 4096 }, () => r.randn() * 2 ** r.int(-30, 20)),
        ...Array.from({ length: 1024 }, () => r.uniform(-1, 1) * 2 ** r.int(-150, 130)),
      ];
    }
    using t = dev.tensor(Float64Array.from(values), { dtype });
    expectCodes(`tensor(Float64Array, ${dtype}) on ${dev.id}`, await codesOfTensor(t), values.map((v) => encodeStorage(dtype, v)), values);
  });

  it.each(DTYPES)('cast %s -> every dtype matches the oracle', async (src) => {
    const codes = sampleCodes(src);
    using t = tensorOfCodes(dev, src, codes);
    const values = codes.map((c) => decodeStorage(src, c));
    for (const dst of DTYPES) {
      using out = t.cast(dst);
      expect(out.dtype).toBe(dst);
      expect(out.shape).toEqual(t.shape);
      expectCodes(`cast ${src}->${dst} on ${dev.id}`, await codesOfTensor(out), values.map((v) => encodeStorage(dst, v)), values);
    }
  });
});

describe.skipIf(!gpu)(`cuda${gpu ? '' : ` (skipped: ${cudaSkipReason()})`}: casts agree with the CPU bit for bit`, () => {
  it.each(DTYPES)('cast %s -> every dtype', async (src) => {
    const cpu = testDevices()[0]!;
    const codes = sampleCodes(src);
    using onCpu = tensorOfCodes(cpu, src, codes);
    using onGpu = onCpu.to(gpu!);
    for (const dst of DTYPES) {
      using a = onCpu.cast(dst);
      using b = onGpu.cast(dst);
      expectCodes(`cast ${src}->${dst}: cuda vs cpu`, await codesOfTensor(b), await codesOfTensor(a));
    }
  });
});
