/**
 * `fp8Gemm`: block-scaled FP8 matrix products (the DeepSeek-V3 / DeepGEMM
 * convention), "NT" like every GEMM of the family.
 * @module
 */
import { binding, callNative } from '../binding.js';
import { Quantized, blockText } from '../fp8/quantize.js';
import { Tensor } from '../tensor.js';
import { type Impl, checkOneOf, checkOptions, parseImpl, typeError } from '../validate.js';

/** The output dtypes of {@link fp8Gemm} (its `outDtype` option). */
export const FP8_GEMM_OUT_DTYPES = ['bf16', 'f32'] as const;

/** An output dtype of {@link fp8Gemm}. */
export type Fp8GemmOutDType = (typeof FP8_GEMM_OUT_DTYPES)[number];

/** Options of {@link fp8Gemm}. */
export interface Fp8GemmOptions<O extends Fp8GemmOutDType> {
  /** Output dtype (default `'bf16'`). */
  outDtype?: O;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

function checkOperand(arg: 'a' | 'b', value: unknown, block: 1 | 128): Quantized {
  const want = block === 1 ? 'quantize(x, { block: [1, 128] })' : 'quantize(w, { block: [128, 128] })';
  if (!Quantized.isQuantized(value)) throw typeError('fp8Gemm', arg, `a Quantized (from ${want})`, value);
  if (value.block === 'tensor' || value.block[0] !== block) {
    const e = new TypeError(`fp8Gemm: ${arg} must be quantized with block [${block}, 128], got block ${blockText(value.block)}`);
    (e as { code?: string }).code = 'ERR_MOEKIT_INVALID_ARG';
    throw e;
  }
  return value;
}

/**
 * Block-scaled FP8 GEMM (DeepSeek-V3 / DeepGEMM convention):
 * `C[m, n] = Σ_kb (A[m, kb] · B[n, kb]ᵀ) · a.scales[m, kb] · b.scales[n / 128, kb]`,
 * each 128-wide K block accumulated in f32 and promoted into an f32
 * accumulator with its two scales.
 * @param a - activations `[M, K]` quantized with block `[1, 128]`.
 * @param b - weights `[N, K]` quantized with block `[128, 128]`.
 * @throws TypeError for operands that are not quantized with those blocks;
 *   RangeError for mismatched K or scale shapes; UnsupportedError when a
 *   named kernel cannot run this shape.
 * @example
 * ```ts
 * using xq = quantize(x, { block: [1, 128] });
 * using wq = quantize(w, { block: [128, 128] });
 * using y = fp8Gemm(xq, wq);          // bf16 [M, N]
 * ```
 */
export function fp8Gemm<O extends Fp8GemmOutDType = 'bf16'>(a: Quantized, b: Quantized, options?: Fp8GemmOptions<O>): Tensor<O> {
  const qa = checkOperand('a', a, 1);
  const qb = checkOperand('b', b, 128);
  const opts = checkOptions('fp8Gemm', options, ['outDtype', 'impl']);
  const outDtype = checkOneOf('fp8Gemm', 'options.outDtype', opts.outDtype ?? 'bf16', FP8_GEMM_OUT_DTYPES);
  const impl = parseImpl('fp8Gemm', opts.impl);
  const av = qa.values.handle('fp8Gemm', 'a.values');
  const as = qa.scales.handle('fp8Gemm', 'a.scales');
  const bv = qb.values.handle('fp8Gemm', 'b.values');
  const bs = qb.scales.handle('fp8Gemm', 'b.scales');
  return Tensor.fromNative<O>(callNative(() => binding().fp8Gemm(av, as, bv, bs, outDtype, impl)));
}
