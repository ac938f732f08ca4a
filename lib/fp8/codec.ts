/**
 * The OCP FP8 formats on the host: encoding and decoding of values.
 *
 * - `e4m3`: 1 sign, 4 exponent (bias 7), 3 mantissa bits; max 448; no
 *   infinities; NaN is S.1111.111.
 * - `e5m2`: 1 sign, 5 exponent (bias 15), 2 mantissa bits; max 57344; IEEE
 *   infinities and NaNs.
 *
 * Encoding rounds to nearest, ties to even, and is bit for bit what CUDA's
 * `__nv_cvt_float_to_fp8(x, __NV_SATFINITE, fmt)` returns (with
 * `saturate: false`, `__NV_NOSAT`). Tensor casts to and from e4m3/e5m2 use the
 * same rules on every device.
 * @module
 */
import { binding, callNative } from '../binding.js';
import { FP8_FORMATS, type Fp8Format } from '../dtype.js';
import { checkOneOf, checkOptions, typeError } from '../validate.js';

/** The FP8 formats (the same array as {@link FP8_FORMATS}). */
export const FORMATS = FP8_FORMATS;

/** Largest finite value of each format. */
export const MAX: Readonly<Record<Fp8Format, number>> = Object.freeze({ e4m3: 448, e5m2: 57344 });

/** Options of {@link encode}. */
export interface EncodeOptions {
  /**
   * `true` (default): values beyond the largest finite value, and ±infinity,
   * become ±max (`__NV_SATFINITE`). `false`: they become NaN (e4m3) or ±inf
   * (e5m2), as `__NV_NOSAT`. NaN always encodes as 0x7F.
   */
  saturate?: boolean;
}

/**
 * Encodes each value as an FP8 code (synchronous, on the host).
 * @param values - Float32Array (each float exactly as CUDA's float conversion
 *   sees it) or Float64Array (rounded once, from the double).
 * @example
 * ```ts
 * fp8.encode(new Float32Array([1, 500, -0.0625]), 'e4m3'); // Uint8Array [0x38, 0x7e, 0x98]
 * ```
 */
export function encode(values: Float32Array | Float64Array, format: Fp8Format, options?: EncodeOptions): Uint8Array {
  if (!(values instanceof Float32Array) && !(values instanceof Float64Array)) {
    throw typeError('fp8.encode', 'values', 'a Float32Array or Float64Array', values);
  }
  checkOneOf('fp8.encode', 'format', format, FORMATS);
  const opts = checkOptions('fp8.encode', options, ['saturate']);
  const saturate = opts.saturate ?? true;
  if (typeof saturate !== 'boolean') throw typeError('fp8.encode', 'options.saturate', 'a boolean', saturate);
  return callNative(() => binding().fp8Encode(values, format, saturate));
}

/** Decodes FP8 codes to their exact values (synchronous, on the host). */
export function decode(codes: Uint8Array, format: Fp8Format): Float32Array {
  if (!(codes instanceof Uint8Array)) throw typeError('fp8.decode', 'codes', 'a Uint8Array', codes);
  checkOneOf('fp8.decode', 'format', format, FORMATS);
  return callNative(() => binding().fp8Decode(codes, format));
}
