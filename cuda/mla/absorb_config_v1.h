// Tile shape of mla.absorbQuery / mla.projectOutput v1 (cuda/mla/absorb_v1.cu). Elements are bf16.
#pragma once

#include "../../native/ops/mla/latent_dims.h"
#include "../common/mma_layout.h"
#include "../common/warp.h"

namespace moekit {
namespace mla_absorb_v1_config {

constexpr int BLOCK_M = 64;  // tokens per block (one head)
constexpr int BLOCK_N = 64;  // output columns per block
constexpr int BLOCK_K = 32;  // summed elements per shared-memory step
constexpr int NUM_WARPS = 4;
constexpr int NUM_THREADS = NUM_WARPS * WARP_SIZE;
constexpr int N_FRAGS = BLOCK_N / MMA_N;  // a warp computes 16 rows x BLOCK_N columns
constexpr int PAD = 8;                    // elements of padding per shared row (keeps 16-byte alignment)
constexpr int A_STRIDE = BLOCK_K + PAD;   // sA [BLOCK_M][A_STRIDE]: x rows
constexpr int B_STRIDE = BLOCK_K + PAD;   // sB [BLOCK_N][B_STRIDE]: B as (n, k)
constexpr int CHUNK_ELEMS = 8;            // bf16 per 16-byte copy
constexpr int SMEM_BYTES = (BLOCK_M * A_STRIDE + BLOCK_N * B_STRIDE) * 2;

static_assert(BLOCK_M == NUM_WARPS * MMA_M, "a warp owns one m16 tile of tokens");
static_assert(BLOCK_K % 16 == 0 && MLA_NOPE % BLOCK_K == 0 && MLA_LATENT % BLOCK_K == 0, "K is whole steps of whole k16 tiles");
static_assert(MLA_V % BLOCK_N == 0 && MLA_LATENT % BLOCK_N == 0, "N is whole tiles");
static_assert((A_STRIDE * 2) % 16 == 0 && (B_STRIDE * 2) % 16 == 0, "rows stay 16-byte aligned for cp.async");

}  // namespace mla_absorb_v1_config
}  // namespace moekit
