// mla.decode: attention of a few new query tokens over the paged latent KV
// cache, in DeepSeek's absorbed form (DESIGN §4): multi-query attention with
// one shared KV head of 576 (K) / 512 (V) over H query heads.
//
// For sequence b of length L = seq_lens[b], query token i < Sq and head h:
//   q      = q[b, i, h, :] (bf16 [576]: absorbed q_nope 512 | q_rope 64)
//   key t  = cache row of position t (bf16, or e4m3 latent · scale | bf16 rope)
//   s_t    = softmax_scale · q · key_t         for visible t
//   visible: t < L, and with causal t <= L - Sq + i (aligned bottom-right)
//   out    = Σ_t softmax(s)_t · key_t[0:512]  → out[b, i, h, :] bf16
//   lse    = ln Σ_t exp(s_t)                   → lse[b, h, i] f32
// A row that sees no key (L = 0, or causal with L - Sq + i < 0) gives
// out = 0 and lse = +inf. Slots at or past L are never read, so NaN there
// cannot leak.
//
// Bad device data (the table and lengths live on the device):
//   CPU twin: a length outside [0, max_pages · page_size], or a page id
//             outside [0, blocks) among the pages a length covers, fails
//             the queued work with a message naming seqLens or blockTable;
//   CUDA:     lengths are clamped into [0, max_pages · page_size] and a key
//             on a page id outside [0, blocks) is masked: the kernels never
//             read outside the cache.
//
//   v1: SIMT flash-decoding: split-KV over a (row group, split, sequence)
//       grid, online softmax in f32 (expf), then a combine kernel merging
//       the splits' partial out/lse. Any sm >= 80.
//   v2: the same schedule and combine with mma.sync tensor cores (bf16
//       operands, f32 accumulators): S = Q K^T and O += P V per tile of 32
//       keys for 32 query rows. Any sm >= 80.
//
//   v3: Hopper (sm_90a): TMA page loads into 128B-swizzled shared memory,
//       wgmma bf16 for q · Kᵀ and P · V, warp-specialised (a producer warp,
//       two math warpgroups), 64 query rows per block; the same split
//       schedule and combine as v1. bf16 cache, page size 64 only.
//
//   kernels:  cuda/mla/decode_v1.cu, decode_v2.cu, decode_combine.cu,
//             cuda/mla/sm90/decode_v3.cu
//             (tiles: cuda/mla/decode_config_v1.h, decode_config_v2.h,
//             sm90/decode_config_v3.h; schedule and page addressing:
//             cuda/mla/paged_kv.h)
//   CPU twin: native/cpu/mla/decode.cc
//   tests:    tests/mla/decode.test.ts
//   bench:    bench/mla/decode.bench.ts
#pragma once

#include <cstdint>

#include "../../common/dtype.h"
#include "../../common/stream.h"
#include "cache_layout.h"

namespace moekit {

struct MlaDecodeParams {
  const uint16_t* q;           // [batch, q_len, heads, 576] bf16
  const void* cache;           // bf16 [blocks, page_size, 576] or u8 [blocks, page_size, 656] (cache_layout.h)
  const int32_t* block_table;  // [batch, max_pages] i32
  const int32_t* seq_lens;     // [batch] i32
  uint16_t* out;               // [batch, q_len, heads, 512] bf16
  float* lse;                  // [batch, heads, q_len] f32
  float* out_accum;            // CUDA: [batch, splits, q_len * heads, 512] f32 partial outputs (nullptr on the CPU)
  float* lse_accum;            // CUDA: [batch, splits, q_len * heads] f32 partial LSEs (nullptr on the CPU)
  DType cache_dtype;           // BF16 or E4M3
  int64_t batch;
  int q_len;                   // Sq
  int heads;                   // H
  int64_t blocks;
  int page_size;
  int max_pages;
  int splits;                  // CUDA: KV splits per sequence (mla_decode_splits); 1 on the CPU
  float softmax_scale;
  bool causal;
};

void mla_decode_cpu(const MlaDecodeParams& p);
void mla_decode_v1(const MlaDecodeParams& p, cudaStream_t stream);
void mla_decode_v2(const MlaDecodeParams& p, cudaStream_t stream);
// The CUDA versions' second kernel: merges the splits' partials of
// out_accum / lse_accum into out and lse (cuda/mla/decode_combine.cu).
void mla_decode_combine(const MlaDecodeParams& p, cudaStream_t stream);
// sm_90a: nullptr when v3 can run p, else the reason it cannot.
const char* mla_decode_v3_unsupported(const MlaDecodeParams& p);
void mla_decode_v3(const MlaDecodeParams& p, cudaStream_t stream);

}  // namespace moekit
