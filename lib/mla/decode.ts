/**
 * `mla.decode`: attention of new query tokens over the paged latent KV
 * cache, in DeepSeek's absorbed form (DESIGN §4): multi-query attention
 * with one KV head of 576 (K = `[latent | kRope]`) and 512 (V = the latent)
 * shared by every query head.
 * @module
 */
import { binding, callNative } from '../binding.js';
import type { NativeTensor } from '../binding.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkBoolean, checkNumber, checkOptions, parseImpl, rangeError, typeError } from '../validate.js';
import { KvCache } from './cache.js';

/** What {@link decode} takes. */
export interface DecodeArgs {
  /** bf16 `[B, Sq, H, 576]`: per query token and head, the absorbed q_nope (512, q_nope·W_UK) then q_rope (64). */
  q: Tensor;
  /** The cache ({@link KvCache}, bf16 or e4m3), or a bf16 tensor `[blocks, pageSize, 576]` of cache rows. */
  kvCache: KvCache | Tensor;
  /** i32 `[B, maxPages]`: each sequence's pages in order; entries past its length are never read. */
  blockTable: Tensor;
  /** i32 `[B]`: each sequence's length (keys), in `[0, maxPages · pageSize]`, the new tokens included. */
  seqLens: Tensor;
  /** The softmax scale, > 0 (DeepSeek-V3: 192^-0.5 · mscale² ≈ 0.135234; never defaulted). */
  softmaxScale: number;
  /** Bottom-right aligned causal mask: query i of Sq sees keys `0 .. seqLen − Sq + i` (default false). */
  causal?: boolean;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

/** What {@link decode} returns. Dispose it (or its two tensors) when done. */
export interface DecodeResult {
  /** bf16 `[B, Sq, H, 512]`: the attention output in the latent space (apply W_UV next). */
  readonly out: Tensor<'bf16'>;
  /** f32 `[B, H, Sq]`: the natural-log sum of exp(scores); +inf for a row that sees no key. */
  readonly lse: Tensor<'f32'>;
  /** Disposes both tensors. */
  dispose(): void;
  /** Same as {@link DecodeResult.dispose}. */
  [Symbol.dispose](): void;
}

const KNOWN = ['q', 'kvCache', 'blockTable', 'seqLens', 'softmaxScale', 'causal', 'impl'] as const;

/**
 * Decode attention over the paged latent cache (see the module docs),
 * queued; the outputs return at once.
 *
 * For sequence b of length L, query token i and head h, the keys visible
 * are positions `t < L` (with `causal`, also `t <= L − Sq + i`); scores are
 * `softmaxScale · q·key_t`, `out = Σ softmax · latent_t` and
 * `lse = ln Σ exp(score)`. A row that sees no key (L = 0) gives out = 0 and
 * lse = +inf. Slots at or past L are never read, so whatever they hold
 * (NaN included) cannot reach the outputs.
 *
 * The lengths and the block table are device data. On the CPU a length
 * outside `[0, maxPages · pageSize]` or a page id outside `[0, blocks)`
 * within a length fails the queued work (the outputs' reads reject with a
 * message naming seqLens or blockTable). On CUDA the kernels clamp lengths
 * into that range and mask keys on such pages: they never read outside the
 * cache.
 *
 * The CUDA v1 kernel splits each sequence's keys over the SMs
 * (flash-decoding) and merges the partial results in a second kernel; the
 * split count comes from sizes the host knows, so no call waits for the GPU.
 *
 * @param args - `{ q, kvCache, blockTable, seqLens, softmaxScale, causal?, impl? }`; see {@link DecodeArgs}.
 * @returns `{ out, lse }` on q's device.
 * @throws TypeError for non-tensors, wrong dtypes or a bad cache; RangeError
 *   for mismatched shapes (q `[B, Sq, H, 576]` with Sq in [1, 128], H in
 *   [1, 1024]; blockTable `[B, maxPages]`; seqLens `[B]`) or a softmaxScale
 *   that is not a finite number > 0; {@link DisposedError} for a disposed
 *   cache or tensor.
 * @example
 * ```ts
 * using r = mla.decode({ q, kvCache: cache, blockTable, seqLens, softmaxScale: 0.1352, causal: true });
 * // r.out: [B, Sq, H, 512] bf16, r.lse: [B, H, Sq] f32
 * ```
 */
export function decode(args: DecodeArgs): DecodeResult {
  const op = 'mla.decode';
  if (args === undefined || args === null) throw typeError(op, 'args', 'an object { q, kvCache, blockTable, seqLens, softmaxScale }', args);
  const a = checkOptions(op, args, KNOWN, 'args');
  checkTensor(op, 'q', a.q);
  checkTensor(op, 'blockTable', a.blockTable);
  checkTensor(op, 'seqLens', a.seqLens);
  let cache: NativeTensor;
  if (KvCache.isCache(a.kvCache)) cache = a.kvCache.handle(op, 'kvCache');
  else if (Tensor.isTensor(a.kvCache)) cache = a.kvCache.handle(op, 'kvCache');
  else throw typeError(op, 'kvCache', 'a KvCache (mla.createCache) or a bf16 tensor [blocks, pageSize, 576]', a.kvCache);
  const scale = checkNumber(op, 'softmaxScale', a.softmaxScale);
  if (!Number.isFinite(scale) || scale <= 0) throw rangeError(op, 'softmaxScale', 'a finite number > 0', String(scale));
  const causal = a.causal === undefined ? false : checkBoolean(op, 'causal', a.causal);
  const impl = parseImpl(op, a.impl);
  const q = a.q.handle(op, 'q');
  const table = a.blockTable.handle(op, 'blockTable');
  const lens = a.seqLens.handle(op, 'seqLens');
  const [out, lse] = callNative(() => binding().mlaDecode(q, cache, table, lens, scale, causal, impl));
  const result: DecodeResult = {
    out: Tensor.fromNative<'bf16'>(out),
    lse: Tensor.fromNative<'f32'>(lse),
    dispose() {
      result.out.dispose();
      result.lse.dispose();
    },
    [Symbol.dispose]() {
      result.dispose();
    },
  };
  return result;
}
