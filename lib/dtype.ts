/**
 * Element types of tensors.
 * @module
 */

/** Every element type, in the order the native binding numbers them. */
export const DTYPES = ['f32', 'f16', 'bf16', 'e4m3', 'e5m2', 'i32', 'u8'] as const;

/**
 * A tensor element type: `f32`, `f16`, `bf16`, the OCP FP8 formats `e4m3`
 * (max 448, no infinities) and `e5m2` (max 57344, IEEE inf/NaN), `i32` and `u8`.
 */
export type DType = (typeof DTYPES)[number];

/** The floating-point element types. */
export type FloatDType = Exclude<DType, 'i32' | 'u8'>;

/**
 * The OCP FP8 formats: the FP8 dtypes, and the values of the `format`
 * option of `quantize` and the `format` argument of `fp8.encode` and
 * `fp8.decode`.
 */
export const FP8_FORMATS = ['e4m3', 'e5m2'] as const;

/** The FP8 element types. */
export type Fp8Format = (typeof FP8_FORMATS)[number];

/** What {@link Tensor.toArray} returns for a dtype: floats (FP8 too) decode to f32. */
export type ArrayFor<D extends DType> = D extends 'i32' ? Int32Array : D extends 'u8' ? Uint8Array : Float32Array;

const SIZES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, e4m3: 1, e5m2: 1, i32: 4, u8: 1 };

/**
 * Bytes per element of `dtype`.
 * @throws TypeError when `dtype` is not one of {@link DTYPES}.
 */
export function dtypeSize(dtype: DType): number {
  if (!isDType(dtype)) {
    const e = new TypeError(`dtypeSize: dtype must be one of ${DTYPES.map((d) => `'${d}'`).join(', ')}, got ${String(dtype)}`);
    (e as { code?: string }).code = 'ERR_MOEKIT_INVALID_ARG';
    throw e;
  }
  return SIZES[dtype];
}

/** Whether `dtype` is a floating-point dtype (FP8 included); false for anything that is not a dtype. */
export function isFloatDType(dtype: unknown): dtype is FloatDType {
  return isDType(dtype) && dtype !== 'i32' && dtype !== 'u8';
}

/** Whether `value` names a dtype. */
export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

/** Largest finite value of each float dtype, and the integer ranges. */
export const DTYPE_LIMITS: Readonly<Record<DType, { min: number; max: number }>> = {
  f32: { min: -3.4028234663852886e38, max: 3.4028234663852886e38 },
  f16: { min: -65504, max: 65504 },
  bf16: { min: -3.3895313892515355e38, max: 3.3895313892515355e38 },
  e4m3: { min: -448, max: 448 },
  e5m2: { min: -57344, max: 57344 },
  i32: { min: -2147483648, max: 2147483647 },
  u8: { min: 0, max: 255 },
};
