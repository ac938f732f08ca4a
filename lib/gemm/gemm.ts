/**
 * `gemm`: matrix products of f32/bf16/f16 tensors. "NT", as every GEMM of the
 * family: `C[M, N] = A[M, K] · B[N, K]ᵀ`, weights stored `[out, in]` as in
 * DeepSeek checkpoints.
 * @module
 */
import { binding, callNative } from '../binding.js';
import type { DType } from '../dtype.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkOneOf, checkOptions, parseImpl } from '../validate.js';

/** The output dtypes of {@link gemm} (its `outDtype` option). */
export const GEMM_OUT_DTYPES = ['f32', 'bf16', 'f16'] as const;

/** An output dtype of {@link gemm}. */
export type GemmOutDType = (typeof GEMM_OUT_DTYPES)[number];

/** Options of {@link gemm}. */
export interface GemmOptions<O extends GemmOutDType> {
  /** Output dtype (default: the inputs' dtype). */
  outDtype?: O;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

/**
 * `C[M, N] = A[M, K] · B[N, K]ᵀ` with f32 accumulation; `a` and `b` of the
 * same dtype (f32, bf16 or f16) on the same device.
 * @throws TypeError / RangeError for mismatched dtypes, shapes or devices.
 * @example
 * ```ts
 * using y = gemm(x, w);               // x [T, 7168] bf16, w [2112, 7168] bf16 -> [T, 2112] bf16
 * ```
 */
export function gemm<O extends GemmOutDType>(a: Tensor, b: Tensor, options?: GemmOptions<O>): Tensor<O> {
  checkTensor('gemm', 'a', a);
  checkTensor('gemm', 'b', b);
  const opts = checkOptions('gemm', options, ['outDtype', 'impl']);
  const outDtype = checkOneOf('gemm', 'options.outDtype', opts.outDtype ?? defaultOut(a.dtype), GEMM_OUT_DTYPES);
  const impl = parseImpl('gemm', opts.impl);
  const ha = a.handle('gemm', 'a');
  const hb = b.handle('gemm', 'b');
  return Tensor.fromNative<O>(callNative(() => binding().gemm(ha, hb, outDtype, impl)));
}

function defaultOut(dtype: DType): DType {
  return dtype === 'bf16' || dtype === 'f16' ? dtype : 'f32';
}

