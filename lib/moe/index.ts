/**
 * Mixture-of-Experts ops (DeepSeek-V3): routing, the balancing bias
 * update, the permutation into the contiguous expert layout, the gather of
 * token rows into it (plain or FP8-quantized), the SwiGLU activation and
 * the combine back into token order. Exported as the `moe` namespace of moekit.
 *
 * @example
 * ```ts
 * import { moe } from 'moekit';
 * using r = moe.route(logits, { topK: 8, bias, groups: 8, topGroups: 4, scale: 2.5 });
 * using next = moe.updateBias(bias, r.counts, { rate: 1e-3 });
 * using perm = moe.permute(r.ids, 256, { align: 128 });
 * using a = moe.gather(x, perm.rowIds, 8, { quantize: 'e4m3' });
 * // ... h = grouped GEMM(a, W13); y = grouped GEMM(moe.swiglu(h, { quantize: 'e4m3' }), W2)
 * using out = moe.combine(y, perm.inverse, { weights: r.weights });
 * ```
 * @module
 */
export {
  route,
  ROUTE_SCORINGS,
  MAX_ROUTE_EXPERTS,
  MAX_ROUTE_TOP_K,
  type RouteScoring,
  type RouteOptions,
  type Routing,
} from './route.js';
export { updateBias, type UpdateBiasOptions } from './update_bias.js';
export { permute, MAX_PERMUTE_EXPERTS, MAX_PERMUTE_TOP_K, MAX_PERMUTE_ALIGN, type PermuteOptions, type Permutation } from './permute.js';
export {
  groupedGemm,
  groupedGemmMasked,
  GROUPED_GEMM_OUT_DTYPES,
  type GroupedGemmOutDType,
  type GroupedGemmOptions,
  type GroupedGemmMaskedOptions,
} from './grouped_gemm.js';
export { gather, MAX_GATHER_TOP_K, type GatherOptions } from './gather.js';
export { swiglu, SWIGLU_OUT_DTYPES, type SwigluOptions, type SwigluOutDType } from './swiglu.js';
export { combine, COMBINE_OUT_DTYPES, type CombineOptions, type CombineOutDType } from './combine.js';
export { forward, type ForwardOptions, type MoeExperts, type MoeSharedExpert, type MoeRouting } from './forward.js';
