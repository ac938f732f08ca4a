/**
 * `moe.updateBias`: the aux-loss-free load balancing step of DeepSeek-V3
 * (arXiv 2412.19437, §2.1.2): `bias_i + rate · sign(mean(counts) − counts_i)`,
 * with `sign(0) = 0`, in f32 on the device.
 * @module
 */
import { binding, callNative } from '../binding.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkNumber, checkOptions, parseImpl, rangeError, typeError } from '../validate.js';

/** Options of {@link updateBias}. */
export interface UpdateBiasOptions {
  /** The step γ, a finite number (DeepSeek-V3 used 0.001). */
  rate: number;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

/**
 * One bias update of aux-loss-free balancing: experts chosen less than the
 * mean gain `rate`, those chosen more lose it, those at the mean keep their
 * bias. The sign is exact (taken from the integer counts); the new bias is
 * `f32(bias_i + f32(rate) · sign)`.
 *
 * @param bias - f32 `[E]`, the current bias (as {@link route} takes it).
 * @param counts - i32 `[E]` on the same device: picks per expert, e.g. the
 *   `counts` of {@link route} (summed over steps or ranks as the caller likes).
 * @param options - `{ rate }`.
 * @returns A new f32 `[E]` tensor; `bias` is not changed.
 * @throws TypeError for a non-tensor, wrong dtypes or devices, a missing or
 *   non-number rate, or an unknown option; RangeError for a non-finite rate or
 *   counts not of shape [E].
 * @example
 * ```ts
 * using r = moe.route(logits, { topK: 8, bias, groups: 8, topGroups: 4, scale: 2.5 });
 * const next = moe.updateBias(bias, r.counts, { rate: 1e-3 });
 * ```
 */
export function updateBias(bias: Tensor, counts: Tensor, options: UpdateBiasOptions): Tensor<'f32'> {
  const op = 'moe.updateBias';
  checkTensor(op, 'bias', bias);
  checkTensor(op, 'counts', counts);
  if (options === undefined || options === null) throw typeError(op, 'options', 'an object with rate', options);
  const opts = checkOptions(op, options, ['rate', 'impl']);
  if (opts.rate === undefined) throw typeError(op, 'options.rate', 'a number', undefined);
  const rate = checkNumber(op, 'options.rate', opts.rate);
  if (!Number.isFinite(rate)) throw rangeError(op, 'options.rate', 'a finite number', String(rate));
  const impl = parseImpl(op, opts.impl);
  const hb = bias.handle(op, 'bias');
  const hc = counts.handle(op, 'counts');
  return Tensor.fromNative<'f32'>(callNative(() => binding().moeUpdateBias(hb, hc, rate, impl)));
}
