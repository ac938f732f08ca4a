/**
 * Multi-head latent attention (DeepSeek-V2/V3): the paged latent KV cache
 * and decode over it in the absorbed form, the prefill attention with keys
 * and values decompressed from the latent inside the kernel, and the query
 * absorption and output projection of the absorbed form. Exported as the
 * `mla` namespace of moekit.
 *
 * @example
 * ```ts
 * import { mla } from 'moekit';
 * using r = mla.prefill({ q, latent, kRope, wkvB, cuSeqLens, softmaxScale: 0.135234 });
 * using qLatent = mla.absorbQuery(qNope, wkvB);       // [T, H, 512] for the absorbed (decode) form
 * using out = mla.projectOutput(oLatent, wkvB);       // [T, H, 128]
 * using cache = mla.createCache(dev, { blocks: 1024, pageSize: 64 });
 * cache.append({ latent, kRope, blockTable, positions });   // [B, S, 512], [B, S, 64]
 * using d = mla.decode({ q: qDecode, kvCache: cache, blockTable, seqLens, softmaxScale: 0.135234, causal: true });
 * ```
 * @module
 */
export { prefill, type PrefillArgs, type PrefillResult } from './prefill.js';
export { absorbQuery, projectOutput, type AbsorbOptions } from './absorb.js';
export {
  createCache,
  KvCache,
  CACHE_DTYPES,
  MLA_LATENT,
  MLA_ROPE,
  MLA_HEAD,
  MLA_FP8_ROW_BYTES,
  MAX_PAGE_SIZE,
  type CacheDType,
  type CacheOptions,
  type AppendArgs,
} from './cache.js';
export { decode, type DecodeArgs, type DecodeResult } from './decode.js';
