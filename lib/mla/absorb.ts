/**
 * `mla.absorbQuery` and `mla.projectOutput`: the per-head products with the
 * two halves of DeepSeek's `wkv_b` that move a query into the latent space
 * (W_UK) and an attention output over the latent back out of it (W_UV), the
 * "absorbed" form of MLA that decode runs in.
 * @module
 */
import { binding, callNative } from '../binding.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkOptions, parseImpl } from '../validate.js';

/** Options of {@link absorbQuery} and {@link projectOutput}. */
export interface AbsorbOptions {
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

const KNOWN = ['impl'] as const;

/**
 * `q_nope' = q_nope · W_UK` per head: `out[t, h, c] = Σ_d qNope[t, h, d] · wkvB[h·256 + d, c]`.
 *
 * bf16 in and out, accumulated in f32 (the CPU in double), rounded once.
 * With `[q_nope' | q_rope]` as the query, attention over the latent cache
 * rows `[latent | k_rope]` gives the same scores as the decompressed keys.
 *
 * @param qNope - bf16 `[T, H, 128]`: the non-RoPE part of each head's query.
 * @param wkvB - bf16 `[H·256, 512]`: DeepSeek's `wkv_b` (per head 128 rows of W_UK, then 128 of W_UV).
 * @param options - `{ impl? }`.
 * @returns bf16 `[T, H, 512]` on qNope's device.
 * @throws TypeError for a non-tensor, a dtype other than bf16, tensors on
 *   two devices or an unknown option; RangeError for qNope not `[T, H, 128]`
 *   or wkvB not `[H·256, 512]`.
 * @example
 * ```ts
 * using qLatent = mla.absorbQuery(qNope, wkvB);      // [T, H, 512]
 * ```
 */
export function absorbQuery(qNope: Tensor, wkvB: Tensor, options?: AbsorbOptions): Tensor<'bf16'> {
  const op = 'mla.absorbQuery';
  checkTensor(op, 'qNope', qNope);
  checkTensor(op, 'wkvB', wkvB);
  const opts = checkOptions(op, options, KNOWN);
  const impl = parseImpl(op, opts.impl);
  const hq = qNope.handle(op, 'qNope');
  const hw = wkvB.handle(op, 'wkvB');
  return Tensor.fromNative<'bf16'>(callNative(() => binding().mlaAbsorbQuery(hq, hw, impl)));
}

/**
 * `out = o · W_UVᵀ` per head: `out[t, h, d] = Σ_c o[t, h, c] · wkvB[h·256 + 128 + d, c]`:
 * an attention output over the latent (512 wide) to the head's 128 value
 * dimensions.
 *
 * bf16 in and out, accumulated in f32 (the CPU in double), rounded once.
 *
 * @param o - bf16 `[T, H, 512]`: attention output in the latent space (e.g. mla.decode's).
 * @param wkvB - bf16 `[H·256, 512]`: DeepSeek's `wkv_b`.
 * @param options - `{ impl? }`.
 * @returns bf16 `[T, H, 128]` on o's device.
 * @throws TypeError for a non-tensor, a dtype other than bf16, tensors on
 *   two devices or an unknown option; RangeError for o not `[T, H, 512]` or
 *   wkvB not `[H·256, 512]`.
 * @example
 * ```ts
 * using out = mla.projectOutput(oLatent, wkvB);      // [T, H, 128]
 * ```
 */
export function projectOutput(o: Tensor, wkvB: Tensor, options?: AbsorbOptions): Tensor<'bf16'> {
  const op = 'mla.projectOutput';
  checkTensor(op, 'o', o);
  checkTensor(op, 'wkvB', wkvB);
  const opts = checkOptions(op, options, KNOWN);
  const impl = parseImpl(op, opts.impl);
  const ho = o.handle(op, 'o');
  const hw = wkvB.handle(op, 'wkvB');
  return Tensor.fromNative<'bf16'>(callNative(() => binding().mlaProjectOutput(ho, hw, impl)));
}
