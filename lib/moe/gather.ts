/**
 * `moe.gather`: the rows of the grouped GEMM's A operand in the contiguous
 * expert layout of `moe.permute`: permuted row `p` is the token row
 * `x[rowIds[p] / topK]`, and padding rows are zeros. Optionally the rows go
 * out already quantized to FP8 with 1x128 block scales, exactly as
 * `quantize(…, { block: [1, 128] })` would quantize them.
 * @module
 */
import { binding, callNative } from '../binding.js';
import { FP8_FORMATS, type Fp8Format } from '../dtype.js';
import { Quantized, SCALE_FORMATS, type ScaleFormat } from '../fp8/quantize.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkInteger, checkOneOf, checkOptions, parseImpl, typeError } from '../validate.js';

/** The largest `topK` {@link gather} takes. */
export const MAX_GATHER_TOP_K = 2 ** 31 - 1;

/** Options of {@link gather}. */
export interface GatherOptions {
  /**
   * Quantize the gathered rows to this FP8 format, with one f32 scale per
   * 1x128 block (the recipe of `quantize`); absent: plain rows of x's dtype.
   */
  quantize?: Fp8Format;
  /** With `quantize`: `'f32'` scales (default) or `'ue8m0'` (powers of two), as `quantize`'s option of that name. */
  scaleFormat?: ScaleFormat;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

const KNOWN = ['quantize', 'scaleFormat', 'impl'] as const;

/** @internal The `quantize` and `scaleFormat` options of the MoE ops, checked: the format ('' for none) and ue8m0. */
export function parseQuantizeOptions(op: string, opts: { readonly quantize?: unknown; readonly scaleFormat?: unknown }): [Fp8Format | '', boolean] {
  if (opts.quantize === undefined) {
    if (opts.scaleFormat !== undefined) throw typeError(op, 'options.scaleFormat', 'absent without options.quantize', opts.scaleFormat);
    return ['', false];
  }
  const format = checkOneOf(op, 'options.quantize', opts.quantize, FP8_FORMATS);
  const scaleFormat = checkOneOf(op, 'options.scaleFormat', opts.scaleFormat ?? 'f32', SCALE_FORMATS);
  return [format, scaleFormat === 'ue8m0'];
}

/** @internal Wraps [values, scales] of a quantizing MoE op as a 1x128 {@link Quantized}. */
export function quantizedRows(handles: readonly unknown[], ue8m0: boolean): Quantized {
  const [values, scales] = handles as [Parameters<typeof Tensor.fromNative>[0], Parameters<typeof Tensor.fromNative>[0]];
  return new Quantized(Tensor.fromNative<Fp8Format>(values), Tensor.fromNative<'f32'>(scales), [1, 128], ue8m0 ? 'ue8m0' : 'f32');
}

/**
 * Gathers the rows of `x` into the permuted order of `moe.permute`: row `p`
 * of the output is `x[rowIds[p] / topK]` (`rowIds[p]` is the pick
 * `t·topK + k`), or zeros where `rowIds[p]` is outside `[0, T·topK)` (the
 * -1 of padding rows; the ids stay on the device, so garbage ids never read
 * outside x). Plain rows are exact copies.
 *
 * With `quantize`, the result is a {@link Quantized} (block `[1, 128]`):
 * values `[P, H]` of that format and scales f32 `[P, ceil(H / 128)]`, bit for
 * bit `quantize(gather(x, rowIds, topK), { block: [1, 128], format })`;
 * padding rows quantize as zeros (code 0, the amax floor's scale).
 *
 * With `x` the routing weights as `[T·K, 1]` f32 and `topK = 1`, it gives
 * each permuted row's weight `[P, 1]` (0 on padding rows).
 *
 * @param x - `[T, H]` of bf16, f16 or f32: the token rows.
 * @param rowIds - i32 `[P]`: each permuted row's pick, e.g. `moe.permute(...).rowIds`.
 * @param topK - K, the picks per token the ids count in (an integer ≥ 1).
 * @param options - `{ quantize?, scaleFormat?, impl? }`; see {@link GatherOptions}.
 * @returns `[P, H]` of x's dtype, or a Quantized with `quantize`; on x's device.
 * @throws TypeError for non-tensors, x not bf16/f16/f32, rowIds not i32,
 *   tensors on different devices, a bad quantize format or scaleFormat
 *   (scaleFormat without quantize too), or an unknown option; RangeError for
 *   x not of rank 2, rowIds not of rank 1, topK not an integer in
 *   [1, 2^31 − 1], or an output too large.
 * @example
 * ```ts
 * using perm = moe.permute(r.ids, 256, { align: 128 });
 * using a = moe.gather(x, perm.rowIds, 8, { quantize: 'e4m3' });  // A of the W13 grouped GEMM
 * using w = moe.gather(r.weights.reshape([T * 8, 1]), perm.rowIds, 1);  // [P, 1] routing weights
 * ```
 */
export function gather<F extends Fp8Format>(x: Tensor, rowIds: Tensor, topK: number, options: GatherOptions & { quantize: F }): Quantized<F>;
export function gather(x: Tensor, rowIds: Tensor, topK: number, options?: GatherOptions & { quantize?: undefined }): Tensor;
export function gather(x: Tensor, rowIds: Tensor, topK: number, options?: GatherOptions): Tensor | Quantized;
export function gather(x: Tensor, rowIds: Tensor, topK: number, options?: GatherOptions): Tensor | Quantized {
  const op = 'moe.gather';
  checkTensor(op, 'x', x);
  checkTensor(op, 'rowIds', rowIds);
  const k = checkInteger(op, 'topK', topK, 1, MAX_GATHER_TOP_K);
  const opts = checkOptions(op, options, KNOWN);
  const [format, ue8m0] = parseQuantizeOptions(op, opts);
  const impl = parseImpl(op, opts.impl);
  const hx = x.handle(op, 'x');
  const hids = rowIds.handle(op, 'rowIds');
  const out = callNative(() => binding().moeGather(hx, hids, k, format, ue8m0, impl));
  return format === '' ? Tensor.fromNative(out[0]!) : quantizedRows(out, ue8m0);
}
