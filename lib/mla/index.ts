/**
 * Multi-head latent attention ops (DeepSeek-V2/V3): the prefill attention
 * with keys and values decompressed from the latent inside the kernel, and
 * the query absorption and output projection of the absorbed form.
 * Exported as the `mla` namespace of moekit.
 *
 * @example
 * ```ts
 * import { mla } from 'moekit';
 * using r = mla.prefill({ q, latent, kRope, wkvB, cuSeqLens, softmaxScale: 0.135234 });
 * using qLatent = mla.absorbQuery(qNope, wkvB);       // [T, H, 512] for the absorbed (decode) form
 * using out = mla.projectOutput(oLatent, wkvB);       // [T, H, 128]
 * ```
 * @module
 */
export { prefill, type PrefillArgs, type PrefillResult } from './prefill.js';
export { absorbQuery, projectOutput, type AbsorbOptions } from './absorb.js';
