/**
 * FLOP and byte counts of one run, by name, so every suite counts the same
 * way (DESIGN §6). TFLOP/s and GB/s in the report come from these.
 * @module
 */

/** GEMM C[M,N] = A[M,K]·B[N,K]ᵀ: one multiply and one add per (m, n, k). */
export function gemmFlops(m: number, n: number, k: number): number {
  return 2 * m * n * k;
}

/**
 * A copy between host and device: each byte crosses the link once, so this
 * is `n`. Use {@link copyReadWriteBytes} for copies within one memory.
 */
export function copyBytes(n: number): number {
  return n;
}

/**
 * A copy within one memory (device-to-device, host memcpy): `n` bytes read
 * plus `n` bytes written, the way STREAM and vendor bandwidth tests count it.
 */
export function copyReadWriteBytes(n: number): number {
  return 2 * n;
}

/** How many bytes one element of a dtype takes, for byte counts. */
export type ElementBytes = 1 | 2 | 4;

/**
 * MLA decode over a paged latent cache (DESIGN §6): scores against the 576
 * key columns and the 512 value columns, per head, query and key.
 * @param seqLens - keys per batch entry (Sk of each sequence).
 */
export function mlaDecodeFlops(seqLens: readonly number[], heads: number, queriesPerSeq: number): number {
  let keys = 0;
  for (const s of seqLens) keys += s;
  return 2 * heads * queriesPerSeq * keys * (576 + 512);
}

/**
 * MLA decode bytes (DESIGN §6): the cache rows read once (576 columns each)
 * plus queries in and outputs out, at `elementBytes` each.
 */
export function mlaDecodeBytes(seqLens: readonly number[], heads: number, queriesPerSeq: number, elementBytes: ElementBytes = 2): number {
  let keys = 0;
  for (const s of seqLens) keys += s;
  return elementBytes * (keys * 576 + seqLens.length * queriesPerSeq * heads * (576 + 512));
}

/**
 * Unmasked (query, key) pairs of causal prefill over packed sequences: a
 * sequence of length s has s·(s+1)/2.
 */
export function causalPairs(seqLens: readonly number[]): number {
  let pairs = 0;
  for (const s of seqLens) pairs += (s * (s + 1)) / 2;
  return pairs;
}

/** MLA prefill FLOPs (DESIGN §6): 2·H·(192+128) per unmasked pair (QKᵀ over 192 columns, PV over 128). */
export function mlaPrefillFlops(pairs: number, heads: number): number {
  return 2 * heads * (192 + 128) * pairs;
}

/**
 * Bytes of a block-scaled FP8 GEMM (DeepGEMM's count): A and B codes once
 * (1 byte each), their f32 scales (1x128 for A, 128x128 for B) and the
 * output once.
 */
export function fp8GemmBytes(m: number, n: number, k: number, outBytes: ElementBytes): number {
  const kb = Math.ceil(k / 128);
  return m * k + n * k + 4 * (m * kb + Math.ceil(n / 128) * kb) + outBytes * m * n;
}

/** Bytes of a dense GEMM: both operands and the output once. */
export function gemmBytes(m: number, n: number, k: number, inBytes: ElementBytes, outBytes: ElementBytes): number {
  return inBytes * (m * k + n * k) + outBytes * m * n;
}

/**
 * Bytes of block quantization: the input read once, one FP8 code written per
 * element and one f32 scale per block of `blockElements`.
 */
export function quantizeBytes(elements: number, inBytes: ElementBytes, blockElements: number): number {
  return elements * (inBytes + 1) + 4 * Math.ceil(elements / blockElements);
}

/**
 * Bytes of MoE routing (moe.route): the f32 logits [T, E] and bias [E] read
 * once, the i32 ids and f32 weights [T, K] and the i32 counts [E] written once.
 */
export function routeBytes(tokens: number, experts: number, topK: number): number {
  return 4 * (tokens * experts + experts) + 8 * tokens * topK + 4 * experts;
}

/**
 * Bytes of the permutation (moe.permute): the i32 ids [T, K] read once (the
 * count pass; the scatter's second read is left out), the i32 rowIds [P],
 * inverse [T, K], offsets [E + 1] and counts [E] written once.
 */
export function permuteBytes(tokens: number, experts: number, topK: number, align: number): number {
  const picks = tokens * topK;
  const rows = picks + Math.min(experts, picks) * (align - 1);
  return 4 * (picks + rows + picks + 2 * experts + 1);
}

/**
 * Bytes of the gather (moe.gather) of P rows of H elements: the i32 row ids
 * read once, each non-padding row of x read once (`readRows`), every output
 * row written once: `outBytes` per element, plus one f32 scale per 1x128
 * block when quantizing (`quantized`).
 */
export function gatherBytes(rows: number, readRows: number, hidden: number, inBytes: ElementBytes, outBytes: ElementBytes, quantized: boolean): number {
  return 4 * rows + readRows * hidden * inBytes + rows * hidden * outBytes + (quantized ? 4 * rows * Math.ceil(hidden / 128) : 0);
}

/**
 * Bytes of the SwiGLU activation (moe.swiglu) of h [P, 2I]: h read once, the
 * [P, I] output written once (`outBytes` per element, plus one f32 scale per
 * 1x128 block when `quantized`).
 */
export function swigluBytes(rows: number, inter: number, inBytes: ElementBytes, outBytes: ElementBytes, quantized: boolean): number {
  return rows * 2 * inter * inBytes + rows * inter * outBytes + (quantized ? 4 * rows * Math.ceil(inter / 128) : 0);
}

/**
 * Bytes of the combine (moe.combine) of T tokens of H elements and K picks:
 * the i32 inverse and f32 weights [T, K] read once, the K picked rows of y
 * read once per token, the shared row when there is one, the output written
 * once.
 */
export function combineBytes(tokens: number, topK: number, hidden: number, yBytes: ElementBytes, sharedBytes: number, outBytes: ElementBytes): number {
  return 8 * tokens * topK + tokens * hidden * (topK * yBytes + sharedBytes + outBytes);
}

/**
 * FLOPs of a grouped GEMM (moe.groupedGemm): 2·rows·N·K per expert, over
 * the rows each expert computes (padding rows are not useful work and are
 * not counted).
 * @param rowsPerExpert - the rows of each expert (its count, not its padded segment).
 */
export function groupedGemmFlops(rowsPerExpert: readonly number[], n: number, k: number): number {
  let rows = 0;
  for (const r of rowsPerExpert) rows += r;
  return gemmFlops(rows, n, k);
}

/**
 * Bytes of a grouped GEMM: the rows of x read once, the weights [N, K] of
 * every expert with at least one row read once, the output rows written
 * once; with `blockScaled` (FP8) also the f32 scales (1x128 for x, 128x128
 * for the weights).
 */
export function groupedGemmBytes(
  rowsPerExpert: readonly number[],
  n: number,
  k: number,
  inBytes: ElementBytes,
  outBytes: ElementBytes,
  blockScaled: boolean,
): number {
  const kb = Math.ceil(k / 128);
  let rows = 0;
  let active = 0;
  for (const r of rowsPerExpert) {
    rows += r;
    if (r > 0) active++;
  }
  const scales = blockScaled ? 4 * (rows * kb + active * Math.ceil(n / 128) * kb) : 0;
  return inBytes * (rows * k + active * n * k) + outBytes * rows * n + scales;
}

/**
 * FLOPs of the MoE FFN layer (moe.forward): per pick, W13 (2·H·2I) and W2
 * (2·I·H), and per token the shared expert's (6·H·Is); the elementwise
 * steps (SwiGLU, weights, combine) are not counted.
 * @param picks - the picks experts compute, T·K when every id is in range.
 */
export function moeLayerFlops(picks: number, tokens: number, hidden: number, inter: number, sharedInter: number): number {
  return 6 * hidden * (picks * inter + tokens * sharedInter);
}

/**
 * Bytes of the MoE FFN layer: the weights of every expert with at least one
 * pick (W13 and W2, 3·H·I elements) and the shared expert's (3·H·Is) read
 * once at `weightBytes` (plus their f32 128x128 scales with `blockScaled`),
 * the bf16 tokens read and the bf16 output written once. Intermediates are
 * not counted (at decode sizes the weights are nearly all of it).
 */
export function moeLayerBytes(
  activeExperts: number,
  tokens: number,
  hidden: number,
  inter: number,
  sharedInter: number,
  weightBytes: ElementBytes,
  blockScaled: boolean,
): number {
  const weights = 3 * hidden * (activeExperts * inter + sharedInter);
  const scales = blockScaled ? (4 * weights) / (128 * 128) : 0;
  return weightBytes * weights + scales + 2 * 2 * tokens * hidden;
}

/**
 * MLA decode bytes for a cache of `cacheRowBytes` per token (1152 for bf16;
 * 656 for the e4m3 layout: 512 codes, 4 f32 scales, 64 bf16, as FlashMLA
 * counts its FP8 tokens): the cache rows read once, plus bf16 queries in
 * and outputs out.
 */
export function mlaDecodeCacheBytes(seqLens: readonly number[], heads: number, queriesPerSeq: number, cacheRowBytes: number): number {
  let keys = 0;
  for (const s of seqLens) keys += s;
  return keys * cacheRowBytes + 2 * seqLens.length * queriesPerSeq * heads * (576 + 512);
}
