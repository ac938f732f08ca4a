// Tile shape of mla.prefill v1 (cuda/mla/prefill_v1.cu). Elements are bf16.
#pragma once

#include "../../native/ops/mla/latent_dims.h"
#include "../common/mma_layout.h"
#include "../common/warp.h"

namespace moekit {
namespace mla_prefill_v1_config {

constexpr int BLOCK_M = 64;         // queries per block (one sequence, one head)
constexpr int BLOCK_N = 32;         // keys per decompressed K/V tile
constexpr int LATENT_CHUNK = 64;    // latent columns per step of the decompression GEMM
constexpr int NUM_WARPS = 4;
constexpr int NUM_THREADS = NUM_WARPS * WARP_SIZE;
constexpr int WARP_ROWS = BLOCK_M / NUM_WARPS;  // 16 queries per warp: one m16 tile
// Decompression: the block computes [BLOCK_N keys, 256] = latent . [W_UK_h; W_UV_h]^T;
// warp w owns 64 of the 256 columns (warps 0-1: k_nope, warps 2-3: v).
constexpr int DEC_COLS_PER_WARP = MLA_WKV_B_ROWS / NUM_WARPS;  // 64
constexpr int DEC_M_FRAGS = BLOCK_N / MMA_M;                   // 2
constexpr int DEC_N_FRAGS = DEC_COLS_PER_WARP / MMA_N;         // 8
constexpr int S_N_FRAGS = BLOCK_N / MMA_N;                     // 4 score fragments per warp row
constexpr int O_N_FRAGS = MLA_V / MMA_N;                       // 16 output fragments

// Shared memory rows are padded by 8 elements (16 bytes), which keeps every
// row 16-byte aligned for cp.async and spreads the fragment loads over the banks.
constexpr int PAD = 8;
constexpr int Q_STRIDE = MLA_QK + PAD;          // sQ [BLOCK_M][Q_STRIDE]
constexpr int K_STRIDE = MLA_QK + PAD;          // sK [BLOCK_N][K_STRIDE]: k_nope | k_rope
constexpr int VT_STRIDE = BLOCK_N + PAD;        // sVt [128][VT_STRIDE]: V transposed (d, key)
constexpr int LAT_STRIDE = LATENT_CHUNK + PAD;  // sLat [BLOCK_N][LAT_STRIDE]
constexpr int W_STRIDE = LATENT_CHUNK + PAD;    // sW [256][W_STRIDE]: W_UK_h | W_UV_h, one chunk

constexpr int ELEM_BYTES = 2;
constexpr int Q_BYTES = BLOCK_M * Q_STRIDE * ELEM_BYTES;
constexpr int K_BYTES = BLOCK_N * K_STRIDE * ELEM_BYTES;
constexpr int VT_BYTES = MLA_V * VT_STRIDE * ELEM_BYTES;
constexpr int LAT_BYTES = BLOCK_N * LAT_STRIDE * ELEM_BYTES;
constexpr int W_BYTES = MLA_WKV_B_ROWS * W_STRIDE * ELEM_BYTES;
constexpr int SMEM_BYTES = Q_BYTES + K_BYTES + VT_BYTES + LAT_BYTES + W_BYTES;  // 90,112 B

constexpr int CHUNK_ELEMS = 8;  // bf16 per 16-byte copy

static_assert(BLOCK_M == NUM_WARPS * MMA_M, "a warp owns one m16 tile of queries");
static_assert(BLOCK_N % 16 == 0, "P . V takes the key tile in k16 steps");
static_assert(MLA_LATENT % LATENT_CHUNK == 0 && LATENT_CHUNK % 16 == 0, "the decompression steps are whole k16 steps");
static_assert(MLA_QK % 16 == 0, "Q . K^T takes the 192 dimensions in k16 steps");
static_assert(NUM_WARPS == 4 && 2 * DEC_COLS_PER_WARP == MLA_NOPE && 2 * DEC_COLS_PER_WARP == MLA_V,
              "warps 0-1 own the 128 k_nope columns, warps 2-3 the 128 v columns");
static_assert((Q_STRIDE * ELEM_BYTES) % 16 == 0 && (LAT_STRIDE * ELEM_BYTES) % 16 == 0 && (W_STRIDE * ELEM_BYTES) % 16 == 0 &&
                  (K_STRIDE * ELEM_BYTES) % 16 == 0,
              "rows stay 16-byte aligned for the 16-byte copies");
static_assert(SMEM_BYTES <= 99 * 1024, "fits the smallest opt-in limit of the supported GPUs (sm_89: 99 KiB)");

}  // namespace mla_prefill_v1_config
}  // namespace moekit
