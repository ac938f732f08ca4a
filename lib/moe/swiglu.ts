/**
 * `moe.swiglu`: the activation between an expert's two GEMMs,
 * `silu(gate) · up` with `silu(g) = g / (1 + e^−g)`, for the output of the
 * stacked `W13 = [W1; W3]` GEMM: gate in the first half of each row, up in
 * the second.
 * @module
 */
import { binding, callNative } from '../binding.js';
import type { Fp8Format } from '../dtype.js';
import type { Quantized, ScaleFormat } from '../fp8/quantize.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkOneOf, checkOptions, parseImpl, typeError } from '../validate.js';
import { parseQuantizeOptions, quantizedRows } from './gather.js';

/** The output dtypes of {@link swiglu} (its `outDtype` option). */
export const SWIGLU_OUT_DTYPES = ['f32', 'bf16', 'f16'] as const;

/** An output dtype of {@link swiglu}. */
export type SwigluOutDType = (typeof SWIGLU_OUT_DTYPES)[number];

/** Options of {@link swiglu}. */
export interface SwigluOptions {
  /** Output dtype (default: h's dtype); not with `quantize`. */
  outDtype?: SwigluOutDType;
  /**
   * Quantize the f32 activations (not rounded to bf16 first) to this FP8
   * format with one f32 scale per 1x128 block (the recipe of `quantize`),
   * for the FP8 W2 GEMM; absent: a plain tensor of `outDtype`.
   */
  quantize?: Fp8Format;
  /** With `quantize`: `'f32'` scales (default) or `'ue8m0'` (powers of two). */
  scaleFormat?: ScaleFormat;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

const KNOWN = ['outDtype', 'quantize', 'scaleFormat', 'impl'] as const;

/**
 * `out[p, j] = silu(h[p, j]) · h[p, I + j]` for `h` `[P, 2I]`.
 *
 * Computed in f32: `g / (1 + expf(−g)) · u`, one rounding per operation in
 * that order, then rounded once to `outDtype`. The CUDA kernels use the
 * accurate `expf` (within 2 ulp), so a GPU agrees with the CPU to a few f32
 * ulp; the emulated GPU agrees bit for bit.
 *
 * With `quantize`, the result is a {@link Quantized} (block `[1, 128]`):
 * values `[P, I]` and scales f32 `[P, ceil(I / 128)]`, bit for bit
 * `quantize(swiglu(h, { outDtype: 'f32' }), { block: [1, 128], format })`.
 *
 * @param h - `[P, 2I]` of bf16, f16 or f32, the last dimension even.
 * @param options - `{ outDtype?, quantize?, scaleFormat?, impl? }`; see {@link SwigluOptions}.
 * @returns `[P, I]` of outDtype, or a Quantized with `quantize`; on h's device.
 * @throws TypeError for a non-tensor, h not bf16/f16/f32, a bad outDtype,
 *   quantize or scaleFormat, outDtype with quantize, scaleFormat without it,
 *   or an unknown option; RangeError for h not of rank 2 or with an odd last
 *   dimension.
 * @example
 * ```ts
 * using h = gemm(a, w13);                                  // [P, 2I]
 * using act = moe.swiglu(h, { quantize: 'e4m3' });         // A of the W2 GEMM
 * ```
 */
export function swiglu<F extends Fp8Format>(h: Tensor, options: SwigluOptions & { quantize: F; outDtype?: undefined }): Quantized<F>;
export function swiglu<O extends SwigluOutDType>(h: Tensor, options?: SwigluOptions & { outDtype?: O; quantize?: undefined }): Tensor<O>;
export function swiglu(h: Tensor, options?: SwigluOptions): Tensor | Quantized;
export function swiglu(h: Tensor, options?: SwigluOptions): Tensor | Quantized {
  const op = 'moe.swiglu';
  checkTensor(op, 'h', h);
  const opts = checkOptions(op, options, KNOWN);
  const [format, ue8m0] = parseQuantizeOptions(op, opts);
  if (format !== '' && opts.outDtype !== undefined) throw typeError(op, 'options.outDtype', 'absent with options.quantize', opts.outDtype);
  const defaultOut = (SWIGLU_OUT_DTYPES as readonly string[]).includes(h.dtype) ? h.dtype : 'f32';
  const outDtype = checkOneOf(op, 'options.outDtype', opts.outDtype ?? defaultOut, SWIGLU_OUT_DTYPES);
  const impl = parseImpl(op, opts.impl);
  const handle = h.handle(op, 'h');
  const out = callNative(() => binding().moeSwiglu(handle, outDtype, format, ue8m0, impl));
  return format === '' ? Tensor.fromNative(out[0]!) : quantizedRows(out, ue8m0);
}
