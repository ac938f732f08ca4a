/**
 * `moe.route`: the DeepSeek-V3 gate (`Gate` of DeepSeek-V3's
 * inference/model.py), from router logits to each token's experts and
 * weights, on the device, with no host round trip.
 *
 * For each token, with E experts:
 *
 * 1. scores `s = sigmoid(logits)` (DeepSeek-V3) or `softmax(logits)` over the
 *    E experts (V2-style models), in f32 (each rounded once from double, so
 *    every device gets the same scores);
 * 2. selection scores `s + bias` (the aux-loss-free balancing bias: it only
 *    chooses, it never weighs);
 * 3. with `groups > 1`: experts split into `groups` consecutive groups; a
 *    group's score is the sum of its two best selection scores (sigmoid) or
 *    its best (softmax); the best `topGroups` groups are kept and the experts
 *    of the others are never chosen (the reference masks them with -inf);
 * 4. `ids`: the `topK` best selection scores among the kept experts, best
 *    first;
 * 5. `weights`: the *unbiased* scores of those experts, divided by
 *    `sum + 1e-20` when `normalize`, times `scale`.
 *
 * Ranking: larger first, NaN above every number, ties to the lower index
 * (groups and experts alike). `counts[e]` is how many (token, pick) chose
 * expert e.
 * @module
 */
import { binding, callNative } from '../binding.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkBoolean, checkInteger, checkNumber, checkOneOf, checkOptions, parseImpl, rangeError, typeError } from '../validate.js';

/** The scoring functions of {@link route} (its `scoring` option). */
export const ROUTE_SCORINGS = ['sigmoid', 'softmax'] as const;

/** A scoring function: `'sigmoid'` (DeepSeek-V3) or `'softmax'` (DeepSeek-V2 and similar). */
export type RouteScoring = (typeof ROUTE_SCORINGS)[number];

/** The most experts {@link route} takes (E, the last dimension of the logits). */
export const MAX_ROUTE_EXPERTS = 512;

/** The most experts {@link route} picks per token (`topK`). */
export const MAX_ROUTE_TOP_K = 16;

/** Options of {@link route}. */
export interface RouteOptions {
  /** Experts per token, in [1, 16] and at most E (8 for DeepSeek-V3). */
  topK: number;
  /** `'sigmoid'` (default, DeepSeek-V3) or `'softmax'`. */
  scoring?: RouteScoring;
  /** f32 `[E]` on the logits' device, added to the scores to choose experts only (default: none). */
  bias?: Tensor<'f32'>;
  /** Expert groups, a divisor of E (default 1: no group limit; 8 for DeepSeek-V3). */
  groups?: number;
  /** Groups kept per token, in [1, groups] (default: all groups; 4 for DeepSeek-V3). */
  topGroups?: number;
  /** Divide the weights by their sum (default: true for sigmoid, false for softmax, as the reference). */
  normalize?: boolean;
  /** Multiplies the weights (default 1; 2.5 for DeepSeek-V3), a finite number. */
  scale?: number;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

/** What {@link route} returns. Dispose it (or its three tensors) when done. */
export interface Routing {
  /** i32 `[T, topK]`: each token's experts, best first. */
  readonly ids: Tensor<'i32'>;
  /** f32 `[T, topK]`: the weight of each pick. */
  readonly weights: Tensor<'f32'>;
  /** i32 `[E]`: how many (token, pick) chose each expert. */
  readonly counts: Tensor<'i32'>;
  /** Disposes the three tensors (idempotent, as each tensor's dispose). */
  dispose(): void;
  /** Same as {@link Routing.dispose}. */
  [Symbol.dispose](): void;
}

const KNOWN = ['topK', 'scoring', 'bias', 'groups', 'topGroups', 'normalize', 'scale', 'impl'] as const;

/**
 * Routes each token to its `topK` experts with the DeepSeek-V3 gate (see the
 * module docs). The work is queued; the three outputs return at once.
 *
 * @param logits - f32 `[T, E]` router logits (`x · W_gᵀ`), E in [1, 512].
 * @param options - `topK` is required; see {@link RouteOptions}.
 * @returns `{ ids, weights, counts }` on the logits' device.
 * @throws TypeError for a non-tensor, a wrong dtype or device, a bad option
 *   value or an unknown option; RangeError for sizes outside the supported
 *   range (E above 512, topK above 16 or E, groups not dividing E, topGroups
 *   above groups, topK above the experts of the kept groups, a bias not of
 *   shape [E]).
 * @example
 * ```ts
 * // DeepSeek-V3: 256 experts, top-8 of the best 4 of 8 groups, weights x 2.5.
 * using r = moe.route(logits, { topK: 8, bias, groups: 8, topGroups: 4, scale: 2.5 });
 * const ids = await r.ids.toArray();
 * ```
 */
export function route(logits: Tensor, options: RouteOptions): Routing {
  const op = 'moe.route';
  checkTensor(op, 'logits', logits);
  if (options === undefined || options === null) throw typeError(op, 'options', 'an object with topK', options);
  const opts = checkOptions(op, options, KNOWN);
  if (opts.topK === undefined) throw typeError(op, 'options.topK', 'an integer in [1, 16]', undefined);
  const topK = checkInteger(op, 'options.topK', opts.topK, 1, MAX_ROUTE_TOP_K);
  const scoring = checkOneOf(op, 'options.scoring', opts.scoring ?? 'sigmoid', ROUTE_SCORINGS);
  const groups = checkInteger(op, 'options.groups', opts.groups ?? 1, 1, MAX_ROUTE_EXPERTS);
  const topGroups = checkInteger(op, 'options.topGroups', opts.topGroups ?? groups, 1, MAX_ROUTE_EXPERTS);
  const normalize = checkBoolean(op, 'options.normalize', opts.normalize ?? scoring === 'sigmoid');
  const scale = checkNumber(op, 'options.scale', opts.scale ?? 1);
  if (!Number.isFinite(scale)) throw rangeError(op, 'options.scale', 'a finite number', String(scale));
  const impl = parseImpl(op, opts.impl);
  let bias = null;
  if (opts.bias !== undefined) {
    checkTensor(op, 'options.bias', opts.bias);
    bias = opts.bias.handle(op, 'options.bias');
  }
  const handle = logits.handle(op, 'logits');
  const [ids, weights, counts] = callNative(() => binding().moeRoute(handle, topK, scoring, bias, groups, topGroups, normalize, scale, impl));
  const out: Routing = {
    ids: Tensor.fromNative<'i32'>(ids),
    weights: Tensor.fromNative<'f32'>(weights),
    counts: Tensor.fromNative<'i32'>(counts),
    dispose() {
      out.ids.dispose();
      out.weights.dispose();
      out.counts.dispose();
    },
    [Symbol.dispose]() {
      out.dispose();
    },
  };
  return out;
}
