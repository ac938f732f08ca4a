/**
 * `moe.forward`: the DeepSeek-style MoE FFN layer in one call,
 * `out[t] = shared(x[t]) + Σ_k weights[t, k] · expert_{ids[t, k]}(x[t])` with
 * `expert_e(x) = W2_e · (silu(W1_e x) ⊙ W3_e x)` and `W13 = [W1; W3]` stacked
 * `[E, 2I, H]`.
 *
 * It queues the family's kernels on the device, with no host round trip
 * (the experts' row counts stay on the device):
 * 1. `moe.permute`: the picks in expert order (contiguous layout, no padding);
 * 2. `moe.gather`: each pick's token row, quantized 1x128 on the way for FP8 weights;
 * 3. `moe.groupedGemm` with W13 and SwiGLU fused into its epilogue → `[P, I]`
 *    bf16 (then quantized 1x128 for FP8 weights);
 * 4. `moe.groupedGemm` with W2, each row scaled by its routing weight in the epilogue → `[P, H]`;
 * 5. `moe.combine`: each token's K rows summed in pick order in f32 (no
 *    atomics: bit-identical from run to run), plus the shared expert's output.
 * The shared expert runs steps 3 and 4 as a grouped GEMM of one expert over
 * all T tokens. (FP8 weights with I not a multiple of 128 cannot fuse
 * SwiGLU, since a 128x128 weight block would mix gate and up rows: step 3
 * then writes `[P, 2I]` and `moe.swiglu` quantizes the activation.)
 * @module
 */
import { Quantized, asQuantized, blockText, quantize } from '../fp8/quantize.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkOptions, parseImpl, rangeError, shapeText, typeError } from '../validate.js';
import { combine } from './combine.js';
import { gather } from './gather.js';
import { groupedGemm } from './grouped_gemm.js';
import { MAX_PERMUTE_EXPERTS, permute } from './permute.js';
import { swiglu } from './swiglu.js';

/** The routed experts' weights: bf16 tensors, or FP8 `Quantized` with block `[128, 128]` (per expert). */
export interface MoeExperts {
  /** `[E, 2I, H]`: W1 (gate) rows `[0, I)` then W3 (up) rows `[I, 2I)` of each expert. */
  readonly w13: Tensor | Quantized;
  /** `[E, H, I]`. */
  readonly w2: Tensor | Quantized;
}

/** The shared expert's weights, of the same kind as the routed experts'. */
export interface MoeSharedExpert {
  /** `[2Is, H]`: gate rows then up rows. */
  readonly w13: Tensor | Quantized;
  /** `[H, Is]`. */
  readonly w2: Tensor | Quantized;
}

/** The routing `moe.forward` follows, e.g. what `moe.route` returns. */
export interface MoeRouting {
  /** i32 `[T, K]` expert ids (ids outside `[0, E)` are skipped). */
  readonly ids: Tensor;
  /** f32 `[T, K]` weights of the picks. */
  readonly weights: Tensor;
}

/** Options of {@link forward}. */
export interface ForwardOptions {
  /** The shared expert, added to every token's output. */
  shared?: MoeSharedExpert;
  /**
   * Kernel choice (default `'auto'`): `'cpu'` runs every step's CPU twin (CPU
   * tensors); a version name (`'v1'`, `'v2'`, `'v3'`) picks the grouped
   * GEMMs' and the shared expert's GEMM version, the other steps run `'auto'`.
   */
  impl?: Impl;
}

const OP = 'moe.forward';

function kindOf(arg: string, w: unknown): 'fp8' | 'tensor' {
  if (Quantized.isQuantized(w)) {
    if (w.block === 'tensor' || w.block[0] !== 128) {
      const e = new TypeError(`${OP}: ${arg} must be quantized with block [128, 128], got block ${blockText(w.block)}`);
      (e as { code?: string }).code = 'ERR_MOEKIT_INVALID_ARG';
      throw e;
    }
    return 'fp8';
  }
  if (w instanceof Tensor) return 'tensor';
  throw typeError(OP, arg, 'a Tensor or a Quantized (block [128, 128])', w);
}

function shapeOf(w: Tensor | Quantized): readonly number[] {
  return Quantized.isQuantized(w) ? w.values.shape : w.shape;
}

function expectShape(arg: string, got: readonly number[], want: readonly number[], why: string): void {
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) throw rangeError(OP, `${arg}.shape`, `${shapeText(want)} (${why})`, shapeText(got));
}

/** One expert's weights `[rows, K]` as the single expert of a grouped GEMM, `[1, rows, K]` (views, not copies). */
function asOneExpert(w: Tensor | Quantized): Tensor | Quantized {
  if (!Quantized.isQuantized(w)) return w.reshape([1, ...w.shape]);
  return asQuantized(w.values.reshape([1, ...w.values.shape]), w.scales.reshape([1, ...w.scales.shape]) as Tensor<'f32'>, { block: [128, 128] });
}

/**
 * `act = silu(x·W1ᵀ) ⊙ (x·W3ᵀ)` (quantized 1x128 for FP8) for the rows of
 * `x` laid out by `offsets`/`counts`, SwiGLU fused into the GEMM where it can be.
 */
function expertActivation(x: Tensor | Quantized, w13: Tensor | Quantized, offsets: Tensor, counts: Tensor | undefined, inter: number, impl: Impl, step: Impl): Tensor | Quantized {
  const layout = counts ? { counts } : {};
  if (!Quantized.isQuantized(w13)) return groupedGemm(x, w13, offsets, { ...layout, swiglu: true, outDtype: 'bf16', impl });
  if (inter % 128 === 0) {
    using act = groupedGemm(x, w13, offsets, { ...layout, swiglu: true, outDtype: 'bf16', impl });
    return quantize(act, { block: [1, 128], impl: step });
  }
  using h = groupedGemm(x, w13, offsets, { ...layout, outDtype: 'bf16', impl });
  return swiglu(h, { quantize: 'e4m3', impl: step });
}

/** The shared expert on every token: a grouped GEMM of one expert over rows [0, T). */
function sharedExpert(x: Tensor, shared: MoeSharedExpert, fp8: boolean, impl: Impl, step: Impl): Tensor {
  const tokens = x.shape[0]!;
  using offsets = x.device.tensor(Int32Array.of(0, tokens), { dtype: 'i32' });
  const w13 = asOneExpert(shared.w13);
  const w2 = asOneExpert(shared.w2);
  try {
    using xq = fp8 ? quantize(x, { block: [1, 128], impl: step }) : undefined;
    using act = expertActivation(xq ?? x, w13, offsets, undefined, shapeOf(shared.w2)[1]!, impl, step);
    return groupedGemm(act, w2, offsets, { outDtype: 'bf16', impl });
  } finally {
    w13.dispose();
    w2.dispose();
  }
}

/**
 * The MoE FFN layer (see the module docs): routed experts plus an optional
 * shared expert. The work is queued; the output returns at once.
 *
 * With FP8 weights (quantized `[128, 128]` per expert), the activations are
 * quantized 1x128 (e4m3) on the fly: in the gather for the first GEMM, and
 * after its fused SwiGLU for the second (in `moe.swiglu` when I is not a
 * multiple of 128 and SwiGLU cannot be fused). Intermediates are bf16.
 * Repeated calls on the same inputs give bit-identical outputs.
 *
 * @param x - bf16 `[T, H]` tokens.
 * @param routing - `{ ids: i32 [T, K], weights: f32 [T, K] }`, e.g. `moe.route(...)`.
 * @param experts - `{ w13: [E, 2I, H], w2: [E, H, I] }`, bf16 or FP8 (both the same kind), E ≤ 512.
 * @param options - `{ shared?, impl? }`; see {@link ForwardOptions}.
 * @returns bf16 `[T, H]`.
 * @throws TypeError for weights of mixed kinds, non-bf16 tensors or an
 *   unknown option; RangeError for mismatched hidden sizes, intermediate
 *   sizes, expert counts or routing shapes.
 * @example
 * ```ts
 * using r = moe.route(logits, { topK: 8, bias, groups: 8, topGroups: 4, scale: 2.5 });
 * using y = moe.forward(x, r, { w13, w2 }, { shared: { w13: sw13, w2: sw2 } });
 * ```
 */
export function forward(x: Tensor, routing: MoeRouting, experts: MoeExperts, options?: ForwardOptions): Tensor<'bf16'> {
  checkTensor(OP, 'x', x);
  if (typeof routing !== 'object' || routing === null) throw typeError(OP, 'routing', 'an object { ids, weights } (e.g. from moe.route)', routing);
  checkTensor(OP, 'routing.ids', routing.ids);
  checkTensor(OP, 'routing.weights', routing.weights);
  if (typeof experts !== 'object' || experts === null) throw typeError(OP, 'experts', 'an object { w13, w2 }', experts);
  const opts = checkOptions(OP, options, ['shared', 'impl']);
  const impl = parseImpl(OP, opts.impl);
  const fp8 = kindOf('experts.w13', experts.w13) === 'fp8';
  if ((kindOf('experts.w2', experts.w2) === 'fp8') !== fp8) throw typeError(OP, 'experts.w2', fp8 ? 'a Quantized like experts.w13' : 'a Tensor like experts.w13', experts.w2);
  if (x.dtype !== 'bf16') throw typeError(OP, 'x.dtype', "'bf16'", x.dtype, `'${x.dtype}'`);
  if (x.shape.length !== 2) throw rangeError(OP, 'x.shape', '[T, H]', shapeText(x.shape));
  const [T, H] = x.shape as [number, number];
  const w13 = shapeOf(experts.w13);
  if (w13.length !== 3 || w13[1]! % 2 !== 0) throw rangeError(OP, 'experts.w13.shape', '[E, 2I, H] with an even 2I', shapeText(w13));
  const [E, twoI] = w13 as [number, number, number];
  const I = twoI / 2;
  expectShape('experts.w13', w13, [E, twoI, H], 'H of x');
  expectShape('experts.w2', shapeOf(experts.w2), [E, H, I], 'E and I of experts.w13, H of x');
  if (E < 1 || E > MAX_PERMUTE_EXPERTS) throw rangeError(OP, 'experts.w13.shape', `[E, 2I, H] with E in [1, ${MAX_PERMUTE_EXPERTS}]`, shapeText(w13));
  const ids = routing.ids;
  if (ids.shape.length !== 2 || ids.shape[0] !== T) throw rangeError(OP, 'routing.ids.shape', `[${T}, K] (T of x)`, shapeText(ids.shape));
  const K = ids.shape[1]!;
  expectShape('routing.weights', routing.weights.shape, [T, K], 'the shape of routing.ids');
  if (routing.weights.dtype !== 'f32') throw typeError(OP, 'routing.weights.dtype', "'f32'", routing.weights.dtype, `'${routing.weights.dtype}'`);
  if (opts.shared !== undefined && (typeof opts.shared !== 'object' || opts.shared === null)) {
    throw typeError(OP, 'options.shared', 'an object { w13, w2 }', opts.shared);
  }
  const shared = opts.shared as MoeSharedExpert | undefined;
  if (shared !== undefined) {
    for (const part of ['w13', 'w2'] as const) {
      if ((kindOf(`options.shared.${part}`, shared[part]) === 'fp8') !== fp8) {
        throw typeError(OP, `options.shared.${part}`, fp8 ? 'a Quantized like the experts' : 'a Tensor like the experts', shared[part]);
      }
    }
    const s13 = shapeOf(shared.w13);
    if (s13.length !== 2 || s13[0]! % 2 !== 0 || s13[1] !== H) throw rangeError(OP, 'options.shared.w13.shape', `[2Is, ${H}] with an even 2Is (H of x)`, shapeText(s13));
    expectShape('options.shared.w2', shapeOf(shared.w2), [H, s13[0]! / 2], 'H of x, Is of options.shared.w13');
  }

  const quant = fp8 ? ({ quantize: 'e4m3' } as const) : {};
  const step: Impl = impl === 'cpu' ? 'cpu' : 'auto';
  using perm = permute(ids, E, { impl: step });
  using xs = gather(x, perm.rowIds, K, { ...quant, impl: step });
  using act = expertActivation(xs, experts.w13, perm.offsets, perm.counts, I, impl, step);
  using flatWeights = routing.weights.reshape([T * K, 1]);
  using rowWeights = gather(flatWeights, perm.rowIds, 1, { impl: step }) as Tensor;
  using y = groupedGemm(act, experts.w2, perm.offsets, { counts: perm.counts, rowScale: rowWeights, outDtype: 'bf16', impl });
  using sharedOut = shared ? sharedExpert(x, shared, fp8, impl, step) : undefined;
  return combine(y, perm.inverse, { ...(sharedOut ? { shared: sharedOut } : {}), outDtype: 'bf16', impl: step }) as Tensor<'bf16'>;
}
