/**
 * Float64 oracles of DeepSeek-V3's MLA attention (inference/model.py), for
 * the prefill-side ops: the "naive" form (decompress the latent with wkv_b
 * into per-head keys and values, then multi-head attention with
 * k = [k_nope | k_rope broadcast to the heads]) and the "absorbed" form
 * (W_UK folded into the query, attention over the latent, W_UV applied to
 * the output). Everything in float64, nothing rounded: the inputs are the
 * tensors' own (bf16) values.
 * @module
 */

/** MLA head dimensions (DeepSeek-V2/V3). */
export const MLA = { latent: 512, rope: 64, nope: 128, v: 128, qk: 192, wkvRows: 256 } as const;

/** Inputs of the naive attention, as float64-exact arrays of the bf16 tensors. */
export interface NaiveInputs {
  q: ArrayLike<number>; // [T, H, 192]
  latent: ArrayLike<number>; // [T, 512]
  kRope: ArrayLike<number>; // [T, 64]
  wkvB: ArrayLike<number>; // [H * 256, 512]
  cuSeqLens: ArrayLike<number>; // [B + 1]
  heads: number;
  softmaxScale: number;
  causal: boolean;
}

/** out [T, H, 128] and lse [H, T] of the naive attention; tokens outside every sequence are NaN. */
export function naiveAttention(x: NaiveInputs): { out: Float64Array; lse: Float64Array } {
  const H = x.heads;
  const B = x.cuSeqLens.length - 1;
  const T = x.latent.length / MLA.latent;
  const out = new Float64Array(T * H * MLA.v).fill(NaN);
  const lse = new Float64Array(H * T).fill(NaN);
  for (let b = 0; b < B; b++) {
    const start = x.cuSeqLens[b]!;
    const len = x.cuSeqLens[b + 1]! - start;
    for (let h = 0; h < H; h++) {
      // k = [latent · W_UK_hᵀ | kRope], v = latent · W_UV_hᵀ
      const k = new Float64Array(len * MLA.qk);
      const v = new Float64Array(len * MLA.v);
      for (let j = 0; j < len; j++) {
        for (let d = 0; d < MLA.nope + MLA.v; d++) {
          let acc = 0;
          const w = (h * MLA.wkvRows + d) * MLA.latent;
          const l = (start + j) * MLA.latent;
          for (let c = 0; c < MLA.latent; c++) acc += x.latent[l + c]! * x.wkvB[w + c]!;
          if (d < MLA.nope) k[j * MLA.qk + d] = acc;
          else v[j * MLA.v + d - MLA.nope] = acc;
        }
        for (let d = 0; d < MLA.rope; d++) k[j * MLA.qk + MLA.nope + d] = x.kRope[(start + j) * MLA.rope + d]!;
      }
      for (let i = 0; i < len; i++) {
        const t = start + i;
        const keys = x.causal ? i + 1 : len;
        const s = new Float64Array(keys);
        let max = -Infinity;
        for (let j = 0; j < keys; j++) {
          let dot = 0;
          for (let d = 0; d < MLA.qk; d++) dot += x.q[(t * H + h) * MLA.qk + d]! * k[j * MLA.qk + d]!;
          s[j] = x.softmaxScale * dot;
          max = Math.max(max, s[j]!);
        }
        let sum = 0;
        for (let j = 0; j < keys; j++) sum += Math.exp(s[j]! - max);
        for (let d = 0; d < MLA.v; d++) {
          let acc = 0;
          for (let j = 0; j < keys; j++) acc += Math.exp(s[j]! - max) * v[j * MLA.v + d]!;
          out[(t * H + h) * MLA.v + d] = acc / sum;
        }
        lse[h * T + t] = max + Math.log(sum);
      }
    }
  }
  return { out, lse };
}

/** absorbQuery: out[t, h, c] = Σ_d qNope[t, h, d] · wkvB[h·256 + d, c], [T, H, 512]. */
export function absorbQueryOracle(qNope: ArrayLike<number>, wkvB: ArrayLike<number>, heads: number): Float64Array {
  const T = qNope.length / (heads * MLA.nope);
  const out = new Float64Array(T * heads * MLA.latent);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      for (let d = 0; d < MLA.nope; d++) {
        const q = qNope[(t * heads + h) * MLA.nope + d]!;
        const w = (h * MLA.wkvRows + d) * MLA.latent;
        const o = (t * heads + h) * MLA.latent;
        for (let c = 0; c < MLA.latent; c++) out[o + c]! += q * wkvB[w + c]!;
      }
    }
  }
  return out;
}

/** projectOutput: out[t, h, d] = Σ_c o[t, h, c] · wkvB[h·256 + 128 + d, c], [T, H, 128]. */
export function projectOutputOracle(o: ArrayLike<number>, wkvB: ArrayLike<number>, heads: number): Float64Array {
  const T = o.length / (heads * MLA.latent);
  const out = new Float64Array(T * heads * MLA.v);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      for (let d = 0; d < MLA.v; d++) {
        let acc = 0;
        const w = (h * MLA.wkvRows + MLA.nope + d) * MLA.latent;
        const x = (t * heads + h) * MLA.latent;
        for (let c = 0; c < MLA.latent; c++) acc += o[x + c]! * wkvB[w + c]!;
        out[(t * heads + h) * MLA.v + d] = acc;
      }
    }
  }
  return out;
}

/**
 * Attention in the absorbed form over one sequence layout: queries
 * [qLatent (512) | qRope (64)] per head against the latent rows [latent | kRope]
 * (one KV head shared by all), values = the latent. Returns oLatent [T, H, 512]
 * and lse [H, T]; the mask is the prefill's (within each sequence, causal top-left).
 */
export function absorbedAttention(
  qLatent: ArrayLike<number>,
  qRope: ArrayLike<number>,
  latent: ArrayLike<number>,
  kRope: ArrayLike<number>,
  cuSeqLens: ArrayLike<number>,
  heads: number,
  softmaxScale: number,
  causal: boolean,
): { out: Float64Array; lse: Float64Array } {
  const H = heads;
  const T = latent.length / MLA.latent;
  const out = new Float64Array(T * H * MLA.latent).fill(NaN);
  const lse = new Float64Array(H * T).fill(NaN);
  for (let b = 0; b + 1 < cuSeqLens.length; b++) {
    const start = cuSeqLens[b]!;
    const len = cuSeqLens[b + 1]! - start;
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < len; i++) {
        const t = start + i;
        const keys = causal ? i + 1 : len;
        const s = new Float64Array(keys);
        let max = -Infinity;
        for (let j = 0; j < keys; j++) {
          let dot = 0;
          for (let c = 0; c < MLA.latent; c++) dot += qLatent[(t * H + h) * MLA.latent + c]! * latent[(start + j) * MLA.latent + c]!;
          for (let d = 0; d < MLA.rope; d++) dot += qRope[(t * H + h) * MLA.rope + d]! * kRope[(start + j) * MLA.rope + d]!;
          s[j] = softmaxScale * dot;
          max = Math.max(max, s[j]!);
        }
        let sum = 0;
        for (let j = 0; j < keys; j++) sum += Math.exp(s[j]! - max);
        for (let c = 0; c < MLA.latent; c++) {
          let acc = 0;
          for (let j = 0; j < keys; j++) acc += Math.exp(s[j]! - max) * latent[(start + j) * MLA.latent + c]!;
          out[(t * H + h) * MLA.latent + c] = acc / sum;
        }
        lse[h * T + t] = max + Math.log(sum);
      }
    }
  }
  return { out, lse };
}
