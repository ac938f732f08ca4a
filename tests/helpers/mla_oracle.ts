/**
 * Float64 oracles of DeepSeek-V3's multi-head latent attention (DESIGN §4),
 * written from the model code's two forms, and the host side of paged
 * caches for the tests (tests/mla/).
 *
 * - naive: decompress the latent with wkv_b (per head 128 rows W_UK, then
 *   128 rows W_UV: k_nope = W_UK·c, v = W_UV·c), then multi-head attention
 *   with k = [k_nope | k_rope] (192) and v (128);
 * - absorbed: q_nope' = q_nope·W_UK (512 per head), scores over the cache
 *   rows [c | k_rope] (576), o = P·c (512), then out = W_UV·o (128).
 * @module
 */
import { decodeNarrow, encodeNarrow } from './dtype_oracle.js';
import type { Rng } from './rng.js';

export const LATENT = 512;
export const ROPE = 64;
export const HEAD = 576;
export const NOPE = 128;
export const V_DIM = 128;
/** Bytes of an e4m3 cache row: 512 codes, 4 f32 scales, 64 bf16. */
export const FP8_ROW = 656;

/** The bf16 code of x (round to nearest even). */
export function bf16Code(x: number): number {
  return encodeNarrow('bf16', x, false);
}

/** `n` normal values of standard deviation `sd`, each rounded to bf16 (so the device holds them exactly). */
export function bf16Randn(r: Rng, n: number, sd: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = decodeNarrow('bf16', bf16Code(r.randn() * sd));
  return out;
}

/** The bf16 codes of values that are bf16-exact. */
export function bf16Codes(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = bf16Code(values[i]!);
  return out;
}

/** What decode computes, in float64: out [B, Sq, H, 512] and lse [B, H, Sq]. */
export interface AttentionRef {
  out: Float64Array;
  lse: Float64Array;
}

/**
 * Absorbed-form decode attention over explicit key rows: `row(b, t)` is the
 * 576 values of key t of sequence b (already decoded: bf16, or e4m3·scale).
 * Query token i sees keys t < L (causal: t <= L − Sq + i); a row that sees
 * none gives out 0 and lse +inf.
 */
export function decodeOracle(
  q: ArrayLike<number>,
  row: (b: number, t: number) => ArrayLike<number>,
  lens: readonly number[],
  sq: number,
  heads: number,
  scale: number,
  causal: boolean,
): AttentionRef {
  const B = lens.length;
  const out = new Float64Array(B * sq * heads * LATENT);
  const lse = new Float64Array(B * heads * sq);
  for (let b = 0; b < B; b++) {
    const L = lens[b]!;
    const rows: ArrayLike<number>[] = [];
    for (let t = 0; t < L; t++) rows.push(row(b, t));
    for (let i = 0; i < sq; i++) {
      const visible = Math.max(0, causal ? Math.min(L, L - sq + i + 1) : L);
      for (let h = 0; h < heads; h++) {
        const qo = ((b * sq + i) * heads + h) * HEAD;
        const oo = ((b * sq + i) * heads + h) * LATENT;
        const lo = (b * heads + h) * sq + i;
        if (visible === 0) {
          lse[lo] = Infinity;
          continue;
        }
        const s = new Float64Array(visible);
        let m = -Infinity;
        for (let t = 0; t < visible; t++) {
          const k = rows[t]!;
          let dot = 0;
          for (let c = 0; c < HEAD; c++) dot += q[qo + c]! * k[c]!;
          s[t] = dot * scale;
          m = Math.max(m, s[t]!);
        }
        let l = 0;
        for (let t = 0; t < visible; t++) {
          s[t] = Math.exp(s[t]! - m);
          l += s[t]!;
        }
        for (let t = 0; t < visible; t++) {
          const k = rows[t]!;
          const p = s[t]! / l;
          for (let c = 0; c < LATENT; c++) out[oo + c] = out[oo + c]! + p * k[c]!;
        }
        lse[lo] = m + Math.log(l);
      }
    }
  }
  return { out, lse };
}

/** One sequence's MLA inputs for the two-form check (float64). */
export interface MlaTokenInputs {
  heads: number;
  /** wkv_b [H·256, 512]: per head 128 rows W_UK, then 128 rows W_UV. */
  wkvB: Float64Array;
  /** latent [Sk, 512] and kRope [Sk, 64] of the keys. */
  latent: Float64Array;
  kRope: Float64Array;
  /** one query token: qNope [H, 128], qRope [H, 64]. */
  qNope: Float64Array;
  qRope: Float64Array;
  scale: number;
}

function wuk(x: MlaTokenInputs, h: number, d: number, c: number): number {
  return x.wkvB[(h * (NOPE + V_DIM) + d) * LATENT + c]!;
}

function wuv(x: MlaTokenInputs, h: number, d: number, c: number): number {
  return x.wkvB[(h * (NOPE + V_DIM) + NOPE + d) * LATENT + c]!;
}

function softmaxRow(s: Float64Array): { p: Float64Array; lse: number } {
  const m = Math.max(...s);
  let l = 0;
  const p = new Float64Array(s.length);
  for (let t = 0; t < s.length; t++) l += p[t] = Math.exp(s[t]! - m);
  for (let t = 0; t < s.length; t++) p[t]! /= l;
  return { p, lse: m + Math.log(l) };
}

/** DeepSeek-V3's "naive" form: out [H, 128] and lse [H]. */
export function naiveMla(x: MlaTokenInputs): { out: Float64Array; lse: Float64Array } {
  const sk = x.latent.length / LATENT;
  const out = new Float64Array(x.heads * V_DIM);
  const lse = new Float64Array(x.heads);
  for (let h = 0; h < x.heads; h++) {
    const kNope = new Float64Array(sk * NOPE);
    const v = new Float64Array(sk * V_DIM);
    for (let t = 0; t < sk; t++) {
      for (let d = 0; d < NOPE; d++) {
        let a = 0;
        let b = 0;
        for (let c = 0; c < LATENT; c++) {
          a += wuk(x, h, d, c) * x.latent[t * LATENT + c]!;
          b += wuv(x, h, d, c) * x.latent[t * LATENT + c]!;
        }
        kNope[t * NOPE + d] = a;
        v[t * V_DIM + d] = b;
      }
    }
    const s = new Float64Array(sk);
    for (let t = 0; t < sk; t++) {
      let dot = 0;
      for (let d = 0; d < NOPE; d++) dot += x.qNope[h * NOPE + d]! * kNope[t * NOPE + d]!;
      for (let d = 0; d < ROPE; d++) dot += x.qRope[h * ROPE + d]! * x.kRope[t * ROPE + d]!;
      s[t] = dot * x.scale;
    }
    const { p, lse: l } = softmaxRow(s);
    lse[h] = l;
    for (let t = 0; t < sk; t++) for (let d = 0; d < V_DIM; d++) out[h * V_DIM + d] = out[h * V_DIM + d]! + p[t]! * v[t * V_DIM + d]!;
  }
  return { out, lse };
}

/** q_nope' = q_nope·W_UK per head: the absorbed query [H, 576] = [q_nope' (512) | q_rope (64)]. */
export function absorbQueryOracle(x: MlaTokenInputs): Float64Array {
  const q = new Float64Array(x.heads * HEAD);
  for (let h = 0; h < x.heads; h++) {
    for (let c = 0; c < LATENT; c++) {
      let a = 0;
      for (let d = 0; d < NOPE; d++) a += x.qNope[h * NOPE + d]! * wuk(x, h, d, c);
      q[h * HEAD + c] = a;
    }
    for (let d = 0; d < ROPE; d++) q[h * HEAD + LATENT + d] = x.qRope[h * ROPE + d]!;
  }
  return q;
}

/** out = W_UV·o per head: [H, 512] latent outputs to [H, 128]. */
export function projectOutputOracle(x: MlaTokenInputs, o: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.heads * V_DIM);
  for (let h = 0; h < x.heads; h++) {
    for (let d = 0; d < V_DIM; d++) {
      let a = 0;
      for (let c = 0; c < LATENT; c++) a += wuv(x, h, d, c) * o[h * LATENT + c]!;
      out[h * V_DIM + d] = a;
    }
  }
  return out;
}

/** DeepSeek-V3's "absorbed" form through {@link decodeOracle}: out [H, 128] and lse [H]. */
export function absorbedMla(x: MlaTokenInputs): { out: Float64Array; lse: Float64Array } {
  const sk = x.latent.length / LATENT;
  const q = absorbQueryOracle(x);
  const rows = (_b: number, t: number): Float64Array => {
    const r = new Float64Array(HEAD);
    r.set(x.latent.subarray(t * LATENT, (t + 1) * LATENT), 0);
    r.set(x.kRope.subarray(t * ROPE, (t + 1) * ROPE), LATENT);
    return r;
  };
  const ref = decodeOracle(q, rows, [sk], 1, x.heads, x.scale, false);
  return { out: projectOutputOracle(x, ref.out), lse: ref.lse };
}

/** A paged layout: each sequence's pages, drawn without repeats from a shuffled cache. */
export interface PagedLayout {
  blocks: number;
  pageSize: number;
  maxPages: number;
  /** [B, maxPages]; entries past a sequence's pages hold a huge id (never read), as FlashMLA's tests do. */
  table: Int32Array;
}

/** Page ids for sequences of `lens`, shuffled over a cache with `spare` unused pages. */
export function pagedLayout(r: Rng, lens: readonly number[], pageSize: number, spare = 2): PagedLayout {
  const pagesOf = lens.map((l) => Math.ceil(l / pageSize));
  const maxPages = Math.max(1, ...pagesOf) + 1;
  const used = pagesOf.reduce((a, b) => a + b, 0);
  const blocks = used + spare;
  const ids = Array.from({ length: blocks }, (_, i) => i);
  for (let i = blocks - 1; i > 0; i--) {
    const j = r.int(0, i);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const table = new Int32Array(lens.length * maxPages).fill(2147480000);
  let next = 0;
  lens.forEach((_, b) => {
    for (let i = 0; i < pagesOf[b]!; i++) table[b * maxPages + i] = ids[next++]!;
  });
  return { blocks, pageSize, maxPages, table };
}

/** The cache row index (page · pageSize + slot) of position t of sequence b. */
export function slotOf(layout: PagedLayout, b: number, t: number): number {
  return layout.table[b * layout.maxPages + Math.floor(t / layout.pageSize)]! * layout.pageSize + (t % layout.pageSize);
}

/** Decodes row `index` of a cache read back as bytes (bf16 or e4m3 layout) to 576 floats. */
export function cacheRow(bytes: Uint8Array, format: 'bf16' | 'e4m3', index: number): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const row = new Float64Array(HEAD);
  if (format === 'bf16') {
    for (let c = 0; c < HEAD; c++) row[c] = decodeNarrow('bf16', view.getUint16((index * HEAD + c) * 2, true));
    return row;
  }
  const base = index * FP8_ROW;
  for (let c = 0; c < LATENT; c++) row[c] = Math.fround(decodeNarrow('e4m3', bytes[base + c]!) * view.getFloat32(base + LATENT + 4 * Math.floor(c / 128), true));
  for (let c = 0; c < ROPE; c++) row[LATENT + c] = decodeNarrow('bf16', view.getUint16(base + 528 + 2 * c, true));
  return row;
}
