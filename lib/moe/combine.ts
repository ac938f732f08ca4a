/**
 * `moe.combine`: the expert outputs back in token order, each token's picks
 * summed (optionally weighted, optionally onto the shared expert's output),
 * deterministically: a fixed order and no float atomics.
 * @module
 */
import { binding, callNative } from '../binding.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkOneOf, checkOptions, parseImpl } from '../validate.js';

/** The output dtypes of {@link combine} (its `outDtype` option). */
export const COMBINE_OUT_DTYPES = ['f32', 'bf16', 'f16'] as const;

/** An output dtype of {@link combine}. */
export type CombineOutDType = (typeof COMBINE_OUT_DTYPES)[number];

/** Options of {@link combine}. */
export interface CombineOptions<O extends CombineOutDType = CombineOutDType> {
  /**
   * f32 `[T, K]`: each pick's weight (e.g. `moe.route(...).weights`). Absent:
   * weight 1, for expert outputs the W2 GEMM has already weighted.
   */
  weights?: Tensor<'f32'>;
  /** `[T, H]` of bf16, f16 or f32: the shared expert's output, added first. */
  shared?: Tensor;
  /** Output dtype (default: y's dtype). */
  outDtype?: O;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

const KNOWN = ['weights', 'shared', 'outDtype', 'impl'] as const;

/**
 * For each token t and column h, in f32:
 * `acc = shared[t, h]` (or 0), then for k = 0, …, K − 1 in that order,
 * `acc = fma(w[t, k], y[inverse[t, k], h], acc)`, skipping picks whose row
 * is outside `[0, P)` (the -1 of skipped picks); the result is rounded once
 * to `outDtype`. One fused multiply-add per pick on every backend, so the
 * CPU and every CUDA version give the same bits, call after call.
 *
 * @param y - `[P, H]` of bf16, f16 or f32: expert outputs in the permuted order of `moe.permute`.
 * @param inverse - i32 `[T, K]`: each pick's row of y, `moe.permute(...).inverse`.
 * @param options - `{ weights?, shared?, outDtype?, impl? }`; see {@link CombineOptions}.
 * @returns `[T, H]` of outDtype on y's device.
 * @throws TypeError for non-tensors, y or shared not bf16/f16/f32, inverse
 *   not i32, weights not f32, tensors on different devices, a bad outDtype
 *   or an unknown option; RangeError for y or inverse not of rank 2, weights
 *   not `[T, K]`, or shared not `[T, H]`.
 * @example
 * ```ts
 * using perm = moe.permute(r.ids, 256, { align: 128 });
 * using out = moe.combine(y, perm.inverse, { weights: r.weights, shared: s });  // [T, H]
 * ```
 */
export function combine<O extends CombineOutDType>(y: Tensor, inverse: Tensor, options?: CombineOptions<O>): Tensor<O> {
  const op = 'moe.combine';
  checkTensor(op, 'y', y);
  checkTensor(op, 'inverse', inverse);
  const opts = checkOptions(op, options, KNOWN);
  let weights = null;
  if (opts.weights !== undefined) {
    checkTensor(op, 'options.weights', opts.weights);
    weights = opts.weights.handle(op, 'options.weights');
  }
  let shared = null;
  if (opts.shared !== undefined) {
    checkTensor(op, 'options.shared', opts.shared);
    shared = opts.shared.handle(op, 'options.shared');
  }
  const defaultOut = (COMBINE_OUT_DTYPES as readonly string[]).includes(y.dtype) ? y.dtype : 'f32';
  const outDtype = checkOneOf(op, 'options.outDtype', opts.outDtype ?? defaultOut, COMBINE_OUT_DTYPES);
  const impl = parseImpl(op, opts.impl);
  const hy = y.handle(op, 'y');
  const hinv = inverse.handle(op, 'inverse');
  return Tensor.fromNative<O>(callNative(() => binding().moeCombine(hy, hinv, weights, shared, outDtype, impl)));
}
