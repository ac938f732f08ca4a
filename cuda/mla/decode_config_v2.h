// Tile shape of mla.decode v2 (cuda/mla/decode_v2.cu) and which part of a
// tile each warp computes. __host__ __device__ and free of CUDA, so
// tests/native/mla_decode_check.cc checks on the CPU that the warps' mma
// fragments cover every score and every output column exactly once.
// Elements in shared memory are bf16 unless named f32.
#pragma once

#include "../../native/common/hd.h"
#include "../../native/ops/mla/cache_layout.h"
#include "../common/mma_layout.h"
#include "../common/warp.h"

namespace moekit {
namespace mla_decode_v2_config {

constexpr int BLOCK_M = 32;  // query rows (query token x head of one sequence) per block
constexpr int BLOCK_N = 32;  // keys per tile
constexpr int NUM_WARPS = 8;
constexpr int NUM_THREADS = NUM_WARPS * WARP_SIZE;
constexpr int M_FRAGS = BLOCK_M / MMA_M;    // 2 m16 row tiles
constexpr int S_N_FRAGS = BLOCK_N / MMA_N;  // 4 n8 key tiles
// The four 128-channel blocks of the latent (one e4m3 scale each), then the
// 64 rope channels: S keeps a partial sum per block so that the e4m3 scales
// multiply whole block sums (the codes themselves are exact bf16).
constexpr int LATENT_BLOCKS = MLA_FP8_SCALES;
constexpr int S_PARTS = LATENT_BLOCKS + 1;
constexpr int LATENT_BLOCK = MLA_LATENT / LATENT_BLOCKS;  // 128
// O = P V: warp w owns output columns [w * O_COLS_PER_WARP, +O_COLS_PER_WARP) of all BLOCK_M rows.
constexpr int O_COLS_PER_WARP = MLA_LATENT / NUM_WARPS;  // 64
constexpr int O_N_FRAGS = O_COLS_PER_WARP / MMA_N;       // 8: 2 x 8 x 4 = 64 f32 accumulators per thread
// The online softmax: a warp per SOFTMAX_ROWS rows, a lane per key.
constexpr int SOFTMAX_ROWS = BLOCK_M / NUM_WARPS;  // 4

// Shared memory. Rows are padded by 8 bf16 (16 bytes): 16-byte aligned for
// cp.async, and a row stride of 4 banks mod 32 keeps the fragment loads
// (8 rows x 4 lanes) free of bank conflicts.
constexpr int PAD = 8;
constexpr int ROW_STRIDE = MLA_HEAD + PAD;  // sQ [BLOCK_M][ROW_STRIDE], sK [BLOCK_N][ROW_STRIDE]
constexpr int S_STRIDE = BLOCK_N + 4;       // sS [BLOCK_M][S_STRIDE] f32: scores, then probabilities
constexpr int CHUNK_BYTES = 16;             // one cp.async
constexpr int CHUNK_ELEMS = CHUNK_BYTES / 2;
constexpr int HEAD_CHUNKS = MLA_HEAD / CHUNK_ELEMS;        // 72 per bf16 row
constexpr int CODE_CHUNKS = MLA_LATENT / CHUNK_BYTES;      // 32: e4m3 codes, 16 per chunk
constexpr int ROPE_CHUNKS = MLA_ROPE / CHUNK_ELEMS;        // 8
constexpr int SCALE_CHUNKS = MLA_FP8_SCALES * 4 / CHUNK_BYTES;  // 1
constexpr int FP8_ROW_CHUNKS = CODE_CHUNKS + ROPE_CHUNKS + SCALE_CHUNKS;

constexpr int Q_BYTES = BLOCK_M * ROW_STRIDE * 2;
constexpr int K_BYTES = BLOCK_N * ROW_STRIDE * 2;
constexpr int S_BYTES = BLOCK_M * S_STRIDE * 4;
constexpr int SCALE_BYTES = BLOCK_N * LATENT_BLOCKS * 4;  // sScale [BLOCK_N][4] f32 (1 for bf16 caches)
constexpr int KEY_ROW_BYTES = BLOCK_N * 8;                // sKeyRow [BLOCK_N] i64: cache row of each key, -1 masked
constexpr int LIMIT_BYTES = BLOCK_M * 8;                  // sLimit [BLOCK_M] i64: keys [0, limit) visible to the row
constexpr int STATE_BYTES = 3 * BLOCK_M * 4;              // sMax, sSum, sAlpha [BLOCK_M] f32

constexpr int Q_OFFSET = 0;
constexpr int K_OFFSET = Q_OFFSET + Q_BYTES;
constexpr int S_OFFSET = K_OFFSET + K_BYTES;
constexpr int SCALE_OFFSET = S_OFFSET + S_BYTES;
constexpr int KEY_ROW_OFFSET = SCALE_OFFSET + SCALE_BYTES;
constexpr int LIMIT_OFFSET = KEY_ROW_OFFSET + KEY_ROW_BYTES;
constexpr int STATE_OFFSET = LIMIT_OFFSET + LIMIT_BYTES;
constexpr int SMEM_BYTES = STATE_OFFSET + STATE_BYTES;  // 80,768

static_assert(BLOCK_M % MMA_M == 0 && BLOCK_N % MMA_K16 == 0, "whole m16 row tiles; P V takes the keys in k16 steps");
static_assert(M_FRAGS * S_N_FRAGS == NUM_WARPS, "S = Q K^T: one m16n8 score tile per warp");
static_assert(BLOCK_N == WARP_SIZE, "the softmax gives each lane one key of the tile");
static_assert(BLOCK_M % NUM_WARPS == 0, "the softmax rows split evenly over the warps");
static_assert(MLA_LATENT % (NUM_WARPS * MMA_N) == 0, "the output columns split into whole n8 tiles per warp");
static_assert(LATENT_BLOCK % O_COLS_PER_WARP == 0, "a warp's output columns lie in one e4m3 scale block");
static_assert(LATENT_BLOCK % MMA_K16 == 0 && MLA_ROPE % MMA_K16 == 0, "the score parts are whole k16 steps");
static_assert(MLA_FP8_SCALES * 4 == CHUNK_BYTES && MLA_FP8_SCALES_OFFSET % CHUNK_BYTES == 0, "a row's 4 scales are one aligned 16-byte chunk");
static_assert((ROW_STRIDE * 2) % CHUNK_BYTES == 0 && Q_BYTES % CHUNK_BYTES == 0 && K_BYTES % CHUNK_BYTES == 0,
              "rows stay 16-byte aligned for cp.async");
static_assert(S_BYTES % 16 == 0 && SCALE_BYTES % 16 == 0 && KEY_ROW_OFFSET % 8 == 0 && LIMIT_OFFSET % 8 == 0,
              "the f32 and i64 arrays keep their alignment");
static_assert(SMEM_BYTES <= 99 * 1024, "fits the smallest opt-in limit of the supported GPUs (sm_89: 99 KiB)");

// The m16n8 score tile warp `warp` computes: (first row, first key) in the block's tile.
MOEKIT_HD constexpr RowCol s_tile_of(int warp) { return RowCol{(warp / S_N_FRAGS) * MMA_M, (warp % S_N_FRAGS) * MMA_N}; }

// The first output column warp `warp` owns, and the e4m3 scale block those columns lie in.
MOEKIT_HD constexpr int o_col0_of(int warp) { return warp * O_COLS_PER_WARP; }
MOEKIT_HD constexpr int o_scale_block_of(int warp) { return o_col0_of(warp) / LATENT_BLOCK; }

// The first of the SOFTMAX_ROWS rows warp `warp` runs the softmax of.
MOEKIT_HD constexpr int softmax_row0_of(int warp) { return warp * SOFTMAX_ROWS; }

}  // namespace mla_decode_v2_config
}  // namespace moekit
