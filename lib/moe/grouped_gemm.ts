/**
 * `moe.groupedGemm` and `moe.groupedGemmMasked`: one GEMM per MoE expert in
 * one launch, "NT" like every GEMM of moekit (weights stored `[out, in]`):
 * `out[rows of expert e] = x[rows of expert e] · w[e]ᵀ`.
 *
 * Two layouts of the experts' rows, both read on the device (the host never
 * waits for the counts):
 * - contiguous ({@link groupedGemm}): `x [P, K]` in expert order, expert e's
 *   rows `offsets[e] .. offsets[e + 1] − 1`, as `moe.permute` lays them out
 *   (pass its `offsets`, and its `counts` to skip the padding rows);
 * - masked ({@link groupedGemmMasked}, for decode): `x [E, maxRows, K]` with
 *   expert e's rows the first `counts[e]` of its slot (DeepGEMM's masked
 *   layout).
 *
 * Operands are bf16/f16/f32 tensors, or FP8 `Quantized` ones: x with block
 * `[1, 128]`, w `[E, N, K]` with block `[128, 128]` (per expert), with
 * fp8Gemm's math (each 128-wide K block promoted into f32 with its scales).
 * Rows that no expert computes come out as zeros.
 * @module
 */
import { binding, callNative } from '../binding.js';
import { Quantized, blockText } from '../fp8/quantize.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkBoolean, checkOneOf, checkOptions, parseImpl, typeError } from '../validate.js';

/** The output dtypes of the grouped GEMM (`outDtype`); FP8 operands give `'bf16'` or `'f32'` only. */
export const GROUPED_GEMM_OUT_DTYPES = ['bf16', 'f16', 'f32'] as const;

/** An output dtype of the grouped GEMM. */
export type GroupedGemmOutDType = (typeof GROUPED_GEMM_OUT_DTYPES)[number];

/** Options of {@link groupedGemmMasked}. */
export interface GroupedGemmMaskedOptions {
  /**
   * Fuse SwiGLU into the epilogue (default false): w is `[E, 2N, K]`, each
   * expert's gate rows then its up rows (W13 = [W1; W3]), and the output is
   * `silu(x·gateᵀ) ⊙ (x·upᵀ)`, `N` columns, computed in f32 before rounding.
   * FP8 needs N a multiple of 128.
   */
  swiglu?: boolean;
  /** f32, one per row of x (`[E, maxRows]` or `[E, maxRows, 1]`): each output row is multiplied by it before rounding (the routing weights). */
  rowScale?: Tensor;
  /** Output dtype (default `'bf16'`). */
  outDtype?: GroupedGemmOutDType;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

/** Options of {@link groupedGemm}. */
export interface GroupedGemmOptions extends Omit<GroupedGemmMaskedOptions, 'rowScale'> {
  /** i32 `[E]`: compute only the first `counts[e]` rows of each segment; the rest are padding (zeros in the output). Default: whole segments. */
  counts?: Tensor;
  /** f32, one per row of x (`[P]` or `[P, 1]`): each output row is multiplied by it before rounding (the routing weights). */
  rowScale?: Tensor;
}

type Operand = { values: Tensor; scales: Tensor | null };

function operand(op: string, arg: 'x' | 'w', value: unknown, block: 1 | 128): Operand {
  if (Quantized.isQuantized(value)) {
    if (value.block === 'tensor' || value.block[0] !== block) {
      const e = new TypeError(`${op}: ${arg} must be quantized with block [${block}, 128], got block ${blockText(value.block)}`);
      (e as { code?: string }).code = 'ERR_MOEKIT_INVALID_ARG';
      throw e;
    }
    return { values: value.values, scales: value.scales };
  }
  if (!(value instanceof Tensor)) {
    throw typeError(op, arg, `a Tensor or a Quantized (from quantize(${arg}, { block: [${block}, 128] }))`, value);
  }
  checkTensor(op, arg, value);
  return { values: value, scales: null };
}

function run(
  op: string,
  x: unknown,
  w: unknown,
  layout: 'contiguous' | 'masked',
  offsets: Tensor | null,
  counts: Tensor | null,
  rowScale: Tensor | null,
  outDtype: GroupedGemmOutDType,
  impl: Impl,
  swiglu: boolean,
): Tensor {
  const xo = operand(op, 'x', x, 1);
  const wo = operand(op, 'w', w, 128);
  const fp8 = xo.scales !== null;
  const name = (arg: string, part: string) => (fp8 || wo.scales ? `${arg}.${part}` : arg);
  const xv = xo.values.handle(op, name('x', 'values'));
  const xs = xo.scales ? xo.scales.handle(op, 'x.scales') : null;
  const wv = wo.values.handle(op, name('w', 'values'));
  const ws = wo.scales ? wo.scales.handle(op, 'w.scales') : null;
  const off = offsets ? offsets.handle(op, 'offsets') : null;
  const cnt = counts ? counts.handle(op, layout === 'masked' ? 'counts' : 'options.counts') : null;
  const rs = rowScale ? rowScale.handle(op, 'options.rowScale') : null;
  return Tensor.fromNative(callNative(() => binding().moeGroupedGemm(xv, xs, wv, ws, layout, off, cnt, rs, outDtype, impl, swiglu)));
}

function optionalTensor(op: string, arg: string, value: unknown): Tensor | null {
  if (value === undefined) return null;
  checkTensor(op, arg, value);
  return value;
}

/**
 * Grouped GEMM over the contiguous expert layout: for each expert e,
 * `out[r] = x[r] · w[e]ᵀ` (times `rowScale[r]`) for its rows
 * `r ∈ [offsets[e], offsets[e + 1])`, or only the first `counts[e]` of them.
 * The work is queued; the output returns at once.
 *
 * Offsets and counts are read on the device: values outside the contract
 * (decreasing offsets, counts above the segment) give unspecified rows but
 * never an access outside the buffers.
 *
 * @param x - `[P, K]` bf16/f16/f32, or a `Quantized` with block `[1, 128]`.
 * @param w - `[E, N, K]` of x's dtype, or a `Quantized` with block `[128, 128]` (both FP8).
 * @param offsets - i32 `[E + 1]`, e.g. `moe.permute(...).offsets`.
 * @param options - `{ counts?, rowScale?, swiglu?, outDtype?, impl? }`; see {@link GroupedGemmOptions}.
 * @returns `[P, N]` of `outDtype` (`N` = half of w's rows with `swiglu`).
 * @throws TypeError for operands of different kinds or dtypes, a w quantized
 *   with another block than `[128, 128]` (or x with another than `[1, 128]`),
 *   or an unknown option; RangeError for mismatched K, experts or scale shapes.
 * @example
 * ```ts
 * using perm = moe.permute(r.ids, 256);
 * using xs = moe.gather(x, perm.rowIds, 8);
 * using act = moe.groupedGemm(xs, w13, perm.offsets, { counts: perm.counts, swiglu: true });  // [P, I]
 * ```
 */
export function groupedGemm(x: Tensor | Quantized, w: Tensor | Quantized, offsets: Tensor, options?: GroupedGemmOptions): Tensor {
  const op = 'moe.groupedGemm';
  checkTensor(op, 'offsets', offsets);
  const opts = checkOptions(op, options, ['counts', 'rowScale', 'swiglu', 'outDtype', 'impl']);
  const counts = optionalTensor(op, 'options.counts', opts.counts);
  const rowScale = optionalTensor(op, 'options.rowScale', opts.rowScale);
  const swiglu = checkBoolean(op, 'options.swiglu', opts.swiglu ?? false);
  const outDtype = checkOneOf(op, 'options.outDtype', opts.outDtype ?? 'bf16', GROUPED_GEMM_OUT_DTYPES);
  return run(op, x, w, 'contiguous', offsets, counts, rowScale, outDtype, parseImpl(op, opts.impl), swiglu);
}

/**
 * Grouped GEMM over the masked layout (decode): for each expert e and
 * `r < counts[e]`, `out[e, r] = x[e, r] · w[e]ᵀ` (times `rowScale[e, r]`);
 * rows at or past the count are zeros. Counts are read on the device and
 * clamped to `[0, maxRows]`.
 *
 * @param x - `[E, maxRows, K]` bf16/f16/f32, or a `Quantized` with block `[1, 128]`.
 * @param w - `[E, N, K]` of x's dtype, or a `Quantized` with block `[128, 128]`.
 * @param counts - i32 `[E]`: the rows of each expert.
 * @param options - `{ rowScale?, swiglu?, outDtype?, impl? }`.
 * @returns `[E, maxRows, N]` of `outDtype`.
 * @throws as {@link groupedGemm}.
 * @example
 * ```ts
 * using y = moe.groupedGemmMasked(xByExpert, w13, counts);  // [E, maxRows, 2I]
 * ```
 */
export function groupedGemmMasked(x: Tensor | Quantized, w: Tensor | Quantized, counts: Tensor, options?: GroupedGemmMaskedOptions): Tensor {
  const op = 'moe.groupedGemmMasked';
  checkTensor(op, 'counts', counts);
  const opts = checkOptions(op, options, ['rowScale', 'swiglu', 'outDtype', 'impl']);
  const rowScale = optionalTensor(op, 'options.rowScale', opts.rowScale);
  const swiglu = checkBoolean(op, 'options.swiglu', opts.swiglu ?? false);
  const outDtype = checkOneOf(op, 'options.outDtype', opts.outDtype ?? 'bf16', GROUPED_GEMM_OUT_DTYPES);
  return run(op, x, w, 'masked', null, counts, rowScale, outDtype, parseImpl(op, opts.impl), swiglu);
}
