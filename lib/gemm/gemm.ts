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

/** Options of {@link gemm}. */
export interface GemmOptions<O extends 'f32' | 'bf16' | 'f16'> {
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
export function gemm<O extends 'f32' | 'bf16' | 'f16'>(a: Tensor, b: Tensor, options?: GemmOptions<O>): Tensor<O> {
  checkTensor('gemm', 'a', a);
  checkTensor('gemm', 'b', b);
  const opts = checkOptions('gemm', options, ['outDtype', 'impl']);
  const outDtype = checkOneOf('gemm', 'options.outDtype', opts.outDtype ?? defaultOut(a.dtype), ['f32', 'bf16', 'f16'] as const);
  const impl = parseImpl('gemm', opts.impl);
  const ha = a.handle('gemm', 'a');
  const hb = b.handle('gemm', 'b');
  return Tensor.fromNative<O>(callNative(() => binding().gemm(ha, hb, outDtype, impl)));
}

function defaultOut(dtype: DType): DType {
  return dtype === 'bf16' || dtype === 'f16' ? dtype : 'f32';
}

