// mla.append (KvCache.append in lib/mla/cache.ts): writes new token rows
// into the paged latent KV cache in place (native/ops/mla/cache_layout.h,
// docs/architecture.md "In-place writes").
//
// For sequence b, token s < lengths[b] of latent [B, S, 512] and k_rope
// [B, S, 64] goes to position t = positions[b] + s of the sequence: row
// t % page_size of page block_table[b, t / page_size]. A bf16 cache stores
// the row as it is; an e4m3 cache quantizes the latent with quantize's 1x128
// recipe (amax floor 1e-4, scale = amax / 448, codes of x · f32(1/scale),
// saturating: the shared scale math of native/ops/fp8/scale_math.h), one
// scale per 128 channels, and stores k_rope as bf16.
//
// positions and lengths come from host numbers (lib/ checks that every
// token lands inside the sequence's block table: t < max_pages · page_size).
// The block table's page ids live on the device, so they are checked where
// the work runs:
//   CPU twin: a page id outside [0, blocks), or a position past the table,
//             fails the queued work (and so marks the cache failed);
//   CUDA v1:  such a token is skipped: the kernel never writes outside the
//             cache.
//
//   v1: a warp per token row, grid-stride; the e4m3 latent through
//       quantize_row128_block (cuda/common/row128_quantize.cuh). Any sm >= 80.
//
//   kernels:  cuda/mla/append_v1.cu
//   CPU twin: native/cpu/mla/append.cc
//   tests:    tests/mla/cache.test.ts
//   bench:    (the decode suite, bench/mla/decode.bench.ts, fills its caches with it)
#pragma once

#include <cstdint>

#include "../../common/dtype.h"
#include "../../common/stream.h"
#include "cache_layout.h"

namespace moekit {

struct MlaAppendParams {
  const uint16_t* latent;      // [batch, tokens, 512] bf16
  const uint16_t* k_rope;      // [batch, tokens, 64] bf16
  const int32_t* block_table;  // [batch, max_pages] i32: page ids
  const int32_t* positions;    // [batch] i32: the sequence position of token 0
  const int32_t* lengths;      // [batch] i32: tokens to write, each in [0, tokens]
  void* cache;                 // bf16 [blocks, page_size, 576] or u8 [blocks, page_size, 656]
  DType cache_dtype;           // BF16 or E4M3
  int64_t batch;
  int64_t tokens;              // S
  int64_t blocks;
  int page_size;
  int max_pages;
};

void mla_append_cpu(const MlaAppendParams& p);
void mla_append_v1(const MlaAppendParams& p, cudaStream_t stream);

}  // namespace moekit
