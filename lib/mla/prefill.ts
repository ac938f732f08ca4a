/**
 * `mla.prefill`: attention over packed variable-length sequences with the
 * per-head keys and values decompressed from the MLA latent inside the
 * kernel (DeepSeek-V3's prefill-style "naive" attention, 192/128 per head).
 * @module
 */
import { binding, callNative } from '../binding.js';
import { Tensor, checkTensor } from '../tensor.js';
import { type Impl, checkBoolean, checkNumber, checkOptions, parseImpl, rangeError, typeError } from '../validate.js';

/** The arguments of {@link prefill}. */
export interface PrefillArgs {
  /** bf16 `[T, H, 192]`: per head `[q_nope (128) | q_rope (64)]`, RoPE applied. */
  q: Tensor;
  /** bf16 `[T, 512]`: the normalized latent `c_kv` of each token. */
  latent: Tensor;
  /** bf16 `[T, 64]`: each token's RoPE key, shared by all heads. */
  kRope: Tensor;
  /** bf16 `[H·256, 512]`: DeepSeek's `wkv_b` (per head 128 rows of W_UK, then 128 of W_UV). */
  wkvB: Tensor;
  /** i32 `[B + 1]`: sequence b owns tokens `cuSeqLens[b] .. cuSeqLens[b+1] - 1`; `0 = cuSeqLens[0] ≤ ... ≤ cuSeqLens[B] = T`. */
  cuSeqLens: Tensor;
  /** The softmax scale, always given (DeepSeek-V3: `192^-0.5 · mscale²` ≈ 0.135234). */
  softmaxScale: number;
  /** Causal mask within each sequence, top-left aligned: query i sees keys 0..i (default `true`). */
  causal?: boolean;
  /** Kernel choice (default `'auto'`). */
  impl?: Impl;
}

/** What {@link prefill} returns; dispose both (or use `using`). */
export interface PrefillResult {
  /** bf16 `[T, H, 128]`. */
  out: Tensor<'bf16'>;
  /** f32 `[H, T]`: natural-log sum of exp of each query's scaled scores. */
  lse: Tensor<'f32'>;
  [Symbol.dispose](): void;
}

const KNOWN = ['q', 'latent', 'kRope', 'wkvB', 'cuSeqLens', 'softmaxScale', 'causal', 'impl'] as const;

/**
 * Multi-head attention over packed sequences, with keys and values
 * decompressed from the latent:
 * `k[s, h] = [latent[s] · W_UK_hᵀ | kRope[s]]`, `v[s, h] = latent[s] · W_UV_hᵀ`
 * (rounded to bf16, as DeepSeek's naive path materializes them), scores
 * `softmaxScale · q · k` within each sequence, softmax in f32 (the CPU: in
 * double), `out = softmax · v`.
 *
 * On a GPU the keys and values are decompressed tile by tile inside the
 * attention kernel and never written to device memory. `cuSeqLens` stays on
 * the device: the CPU checks it when the work runs (a bad one fails the
 * call, so the next read rejects, naming cuSeqLens); a CUDA kernel clamps
 * its values into `[0, T]` instead, so a bad one gives unspecified rows but
 * never reads or writes outside the tensors.
 *
 * @param args - `{ q, latent, kRope, wkvB, cuSeqLens, softmaxScale, causal?, impl? }`; see {@link PrefillArgs}.
 * @returns `{ out, lse }` on q's device: out bf16 `[T, H, 128]`, lse f32 `[H, T]` (heads outer, as mla.decode's `[B, H, Sq]`).
 * @throws TypeError for a missing or non-tensor argument, a dtype other than
 *   bf16 (i32 for cuSeqLens), tensors on two devices, a non-number scale, a
 *   non-boolean causal or an unknown key; RangeError for q not
 *   `[T, H, 192]`, latent not `[T, 512]`, kRope not `[T, 64]`, wkvB not
 *   `[H·256, 512]`, cuSeqLens not of rank 1 with at least one entry, or a
 *   non-finite scale.
 * @example
 * ```ts
 * using r = mla.prefill({ q, latent, kRope, wkvB, cuSeqLens, softmaxScale: 0.135234 });
 * const out = await r.out.toArray();                  // [T, H, 128]
 * ```
 */
export function prefill(args: PrefillArgs): PrefillResult {
  const op = 'mla.prefill';
  if (args === undefined || args === null || typeof args !== 'object') throw typeError(op, 'args', 'an object', args);
  const a = checkOptions(op, args, KNOWN, 'args');
  for (const name of ['q', 'latent', 'kRope', 'wkvB', 'cuSeqLens'] as const) checkTensor(op, name, a[name]);
  const scale = checkNumber(op, 'softmaxScale', a.softmaxScale);
  if (!Number.isFinite(scale)) throw rangeError(op, 'softmaxScale', 'a finite number', String(scale));
  const causal = a.causal === undefined ? true : checkBoolean(op, 'causal', a.causal);
  const impl = parseImpl(op, a.impl);
  const t = (name: 'q' | 'latent' | 'kRope' | 'wkvB' | 'cuSeqLens') => (a[name] as Tensor).handle(op, name);
  const [hq, hl, hr, hw, hc] = [t('q'), t('latent'), t('kRope'), t('wkvB'), t('cuSeqLens')];
  const handles = callNative(() => binding().mlaPrefill(hq, hl, hr, hw, hc, scale, causal, impl));
  const out = Tensor.fromNative<'bf16'>(handles[0]!);
  const lse = Tensor.fromNative<'f32'>(handles[1]!);
  return {
    out,
    lse,
    [Symbol.dispose]() {
      out.dispose();
      lse.dispose();
    },
  };
}
