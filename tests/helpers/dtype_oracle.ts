/**
 * An independent model of every dtype's storage, written from the format
 * definitions and sharing nothing with the library: what code a conversion
 * of an exact value must store, and what value a code holds.
 *
 * Narrow floats (bf16, f16, e4m3, e5m2) are modelled as a table of their
 * finite values: encoding searches the table for the two neighbours of the
 * value and keeps the nearer, on a tie the one with the even code (the even
 * mantissa). Past the largest finite value the grid continues one step, so a
 * value rounds to "overflow" exactly when IEEE rounding with an unbounded
 * exponent would leave the format's range; this is where E4M3 (largest
 * mantissa even: 464 rounds to 448) and the IEEE formats (odd: the midpoint
 * overflows) differ.
 * @module
 */
import type { DType } from '../../lib/index.js';
import { f32Bits } from './bits.js';

/** The narrow float dtypes. */
export type NarrowDType = 'bf16' | 'f16' | 'e4m3' | 'e5m2';

interface NarrowDef {
  readonly expBits: number;
  readonly manBits: number;
  readonly bias: number;
  /** IEEE style: the all-ones exponent holds ±inf and NaNs. E4M3 instead has finite values there and NaN only at mantissa all ones. */
  readonly infinities: boolean;
  /** The NaN a conversion writes (CUDA's canonical NaN). */
  readonly nanCode: number;
}

const DEFS: Readonly<Record<NarrowDType, NarrowDef>> = {
  bf16: { expBits: 8, manBits: 7, bias: 127, infinities: true, nanCode: 0x7fff },
  f16: { expBits: 5, manBits: 10, bias: 15, infinities: true, nanCode: 0x7fff },
  e4m3: { expBits: 4, manBits: 3, bias: 7, infinities: false, nanCode: 0x7f },
  e5m2: { expBits: 5, manBits: 2, bias: 15, infinities: true, nanCode: 0x7f },
};

/** The canonical NaN code each narrow format's conversions write. */
export function nanCode(format: NarrowDType): number {
  return DEFS[format].nanCode;
}

/** Bits of a code of `format` (8 or 16). */
export function codeBits(format: NarrowDType): number {
  const d = DEFS[format];
  return 1 + d.expBits + d.manBits;
}

/** The exact value of `code` in `format`: NaN for NaN codes, ±Infinity, -0 for the negative zero. */
export function decodeNarrow(format: NarrowDType, code: number): number {
  const d = DEFS[format];
  const expAll = (1 << d.expBits) - 1;
  const manAll = (1 << d.manBits) - 1;
  const negative = ((code >> (d.expBits + d.manBits)) & 1) === 1;
  const exp = (code >> d.manBits) & expAll;
  const man = code & manAll;
  let magnitude: number;
  if (d.infinities && exp === expAll) {
    magnitude = man === 0 ? Infinity : NaN;
  } else if (!d.infinities && exp === expAll && man === manAll) {
    magnitude = NaN;
  } else if (exp === 0) {
    magnitude = man * 2 ** (1 - d.bias - d.manBits);
  } else {
    magnitude = (1 + man / 2 ** d.manBits) * 2 ** (exp - d.bias);
  }
  return negative ? -magnitude : magnitude;
}

interface Table {
  /** values[c] = value of the non-negative code c, for c in 0..maxCode (increasing). */
  readonly values: Float64Array;
  readonly maxCode: number;
  /** The grid point one step past the largest finite value. */
  readonly beyond: number;
}

const tables = new Map<NarrowDType, Table>();

function table(format: NarrowDType): Table {
  let t = tables.get(format);
  if (!t) {
    const signBit = 1 << (codeBits(format) - 1);
    const values: number[] = [];
    for (let c = 0; c < signBit; c++) {
      const v = decodeNarrow(format, c);
      if (!Number.isFinite(v)) break;
      values.push(v);
    }
    const maxCode = values.length - 1;
    const top = values[maxCode]!;
    t = { values: Float64Array.from(values), maxCode, beyond: top + (top - values[maxCode - 1]!) };
    tables.set(format, t);
  }
  return t;
}

/** The largest finite value of `format`. */
export function maxFinite(format: NarrowDType): number {
  const t = table(format);
  return t.values[t.maxCode]!;
}

/** The non-negative finite values of `format` in increasing order (index = code). */
export function finiteValues(format: NarrowDType): Float64Array {
  return table(format).values;
}

/**
 * The code of `format` nearest to the exact value `x` (ties to the even
 * code). Beyond the range: ±max when `saturate` (±inf too), else ±inf, or
 * NaN with the sign of x for E4M3. NaN gives the canonical NaN.
 */
export function encodeNarrow(format: NarrowDType, x: number, saturate: boolean): number {
  const d = DEFS[format];
  if (Number.isNaN(x)) return d.nanCode;
  const t = table(format);
  const sign = x < 0 || Object.is(x, -0) ? 1 << (codeBits(format) - 1) : 0;
  const a = Math.abs(x);
  // Largest code whose value is <= a (binary search over the increasing table).
  let lo = 0;
  let hi = t.maxCode;
  if (a >= t.values[t.maxCode]!) {
    lo = t.maxCode;
  } else {
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (t.values[mid]! <= a) lo = mid;
      else hi = mid;
    }
  }
  const below = t.values[lo]!;
  const above = lo === t.maxCode ? t.beyond : t.values[lo + 1]!;
  let code: number;
  if (a === below) code = lo;
  else if (a - below < above - a) code = lo;
  else if (a - below > above - a) code = lo + 1;
  else code = lo % 2 === 0 ? lo : lo + 1;
  if (code > t.maxCode || a === Infinity) {
    if (saturate) return sign | t.maxCode;
    const overflow = d.infinities ? ((1 << d.expBits) - 1) << d.manBits : d.nanCode;
    return sign | overflow;
  }
  return sign | code;
}

/**
 * The storage a conversion of the exact value `x` to `dtype` must write,
 * as an integer: f32 bit pattern (NaN as 0x7FC00000), bf16/f16 codes
 * (IEEE: overflow to ±inf), FP8 codes (saturating), i32/u8 values
 * (truncated toward zero, saturated, NaN as 0).
 */
export function encodeStorage(dtype: DType, x: number): number {
  switch (dtype) {
    case 'f32': return Number.isNaN(x) ? 0x7fc00000 : f32Bits(x);
    case 'bf16':
    case 'f16': return encodeNarrow(dtype, x, false);
    case 'e4m3':
    case 'e5m2': return encodeNarrow(dtype, x, true);
    case 'i32': return Number.isNaN(x) ? 0 : Math.min(2147483647, Math.max(-2147483648, Math.trunc(x))) | 0;
    case 'u8': return Number.isNaN(x) ? 0 : Math.min(255, Math.max(0, Math.trunc(x)));
  }
}

/** The exact value stored as `code` (see {@link encodeStorage} for what a code is). */
export function decodeStorage(dtype: DType, code: number): number {
  switch (dtype) {
    case 'f32': {
      const v = new DataView(new ArrayBuffer(4));
      v.setUint32(0, code >>> 0, true);
      return v.getFloat32(0, true);
    }
    case 'bf16':
    case 'f16':
    case 'e4m3':
    case 'e5m2': return decodeNarrow(dtype, code);
    case 'i32':
    case 'u8': return code;
  }
}

const STORAGE_BYTES: Readonly<Record<DType, number>> = { f32: 4, f16: 2, bf16: 2, e4m3: 1, e5m2: 1, i32: 4, u8: 1 };

/** The codes held in little-endian storage `bytes` of `dtype` (i32 signed, the rest unsigned). */
export function codesOf(dtype: DType, bytes: Uint8Array): number[] {
  const size = STORAGE_BYTES[dtype];
  if (bytes.length % size !== 0) throw new RangeError(`codesOf: ${bytes.length} bytes is not a whole number of ${dtype} elements`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<number>(bytes.length / size);
  for (let i = 0; i < out.length; i++) {
    out[i] = size === 1 ? v.getUint8(i) : size === 2 ? v.getUint16(2 * i, true) : dtype === 'i32' ? v.getInt32(4 * i, true) : v.getUint32(4 * i, true);
  }
  return out;
}
