// The steps of the unfused MLA baselines (baselines.mlaDecode and
// baselines.mlaPrefill, native/ops/baselines/mla.cc) that are not cuBLAS
// GEMMs: what a user of cuBLAS writes around its batched GEMMs. They are
// moekit kernels serving the baseline, part of what benchmarks time.
//
//   gather:   a paged cache [blocks, page, 576] bf16 read through a block
//             table into one contiguous [B, max_len, 576] buffer per batch;
//             rows j >= len[b] are zero (the GEMMs read them; P is zero
//             there, and 0 · NaN would not be). A block-table entry outside
//             [0, blocks) gives NaN rows instead of a read out of bounds.
//   softmax:  the masked softmax of f32 scores, written as bf16
//             probabilities, and the natural-log LSE. An entry's rows are
//             heads x queries, ordered query-major ([Sq, H]: decode's
//             q [B, Sq, H, 576]) or head-major ([H, S]: prefill's scores of
//             one sequence, [H, S, S]). Query position s of an entry with
//             `len` keys and `queries` queries sees the keys
//             j < min(len, s + 1 + len - queries) when causal (bottom-right
//             alignment; top-left for prefill, where len == queries), every
//             key j < len otherwise; x_j = scale · score_j,
//             p_j = exp(x_j - max) / sum, lse = max + log(sum). Columns
//             outside the allowed keys (up to `cols`) get p = 0. A row with
//             no key gets p = 0 and lse = +inf (FlashMLA's convention).
//   assemble: per-head prefill keys K [T, H, 192] = [k_nope (128) | k_rope (64)]
//             from the decompressed kv [T, H * 256] (per head 128 k_nope
//             columns, then 128 of v) and kRope [T, 64].
//
// Lengths travel in the kernels' parameters (MLA_STEP_LENGTHS per launch;
// the host splits larger batches), so no host buffer outlives the call.
//   kernels:  cuda/baselines/mla_steps_v1.cu
//   CPU twin: native/baselines/mla_steps.cc
//   tests:    tests/baselines/mla.test.ts (each step on every test device,
//             the emulated GPU included, against a JS reference)
#pragma once

#include <cstdint>

#include "../../common/hd.h"

namespace moekit {

constexpr int MLA_STEP_LENGTHS = 256;
constexpr int MLA_ROW = 576;  // a decode cache row: latent (512) | k_rope (64)

struct MlaGatherParams {
  const uint16_t* cache;       // bf16 [blocks, page_size, 576]
  const int32_t* block_table;  // i32 [batch, max_pages] (of the whole call)
  uint16_t* out;               // bf16 [batch, max_len, 576] (of the whole call)
  int64_t blocks;
  int64_t page_size;
  int64_t max_pages;
  int64_t max_len;
  int64_t first;  // the first batch entry of this launch
  int64_t count;  // entries in this launch, at most MLA_STEP_LENGTHS
  int32_t lengths[MLA_STEP_LENGTHS];  // keys of entries first .. first + count - 1
};

struct MlaSoftmaxParams {
  const float* scores;  // f32 [count, heads * queries, cols] (this launch's first entry)
  uint16_t* probs;      // bf16, the same layout
  float* lse;           // f32, entry e, head h, query s at lse[e * lse_entry_stride + h * lse_head_stride + s]
  int64_t heads;
  int64_t queries;
  int64_t cols;
  int64_t lse_entry_stride;
  int64_t lse_head_stride;
  int64_t count;  // entries in this launch, at most MLA_STEP_LENGTHS
  float scale;
  bool causal;
  bool head_major;  // rows ordered [H, queries] (else [queries, H])
  int32_t lengths[MLA_STEP_LENGTHS];
};

struct MlaAssembleParams {
  const uint16_t* kv;      // bf16 [tokens, heads * 256]
  const uint16_t* k_rope;  // bf16 [tokens, 64]
  uint16_t* k;             // bf16 [tokens, heads, 192]
  int64_t tokens;
  int64_t heads;
};

static_assert(sizeof(MlaGatherParams) <= 4000 && sizeof(MlaSoftmaxParams) <= 4000, "kernel parameters are limited to 4 KiB");

void mla_gather_cpu(const MlaGatherParams& p);
void mla_softmax_cpu(const MlaSoftmaxParams& p);
void mla_assemble_cpu(const MlaAssembleParams& p);
void mla_gather_v1(const MlaGatherParams& p, void* stream);  // stream: cudaStream_t
void mla_softmax_v1(const MlaSoftmaxParams& p, void* stream);
void mla_assemble_v1(const MlaAssembleParams& p, void* stream);

// The keys query position `s` of an entry with `len` keys and `queries`
// queries may see: [0, limit). Shared by the twin and the kernel.
MOEKIT_HD int64_t mla_key_limit(int64_t len, int64_t queries, int64_t s, bool causal) {
  if (len <= 0) return 0;
  if (!causal) return len;
  const int64_t limit = s + 1 + len - queries;
  return limit < 0 ? 0 : (limit > len ? len : limit);
}

}  // namespace moekit
