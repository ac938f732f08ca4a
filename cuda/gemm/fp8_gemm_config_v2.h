// Tile shape of fp8Gemm v2 (cuda/gemm/fp8_gemm_v2.cu), and the geometry the
// kernel and tests/native/mma_layout_check.cc share: which part of the
// block tile a warp computes, and which scales a block's promotion reads.
// Elements are 1-byte FP8 codes.
#pragma once

#include <cstdint>

#include "../../native/common/hd.h"
#include "../common/mma_layout.h"
#include "../common/swizzle.h"
#include "../../native/common/fp8_block.h"

namespace moekit {
namespace fp8_gemm_v2_config {

constexpr int BLOCK_M = 128;  // output rows per block
constexpr int BLOCK_N = 128;  // output columns per block
constexpr int BLOCK_K = 128;  // K elements per pipeline stage: one scale block
constexpr int NUM_STAGES = 3;
constexpr int WARPS_M = 2;
constexpr int WARPS_N = 4;
constexpr int NUM_WARPS = WARPS_M * WARPS_N;
constexpr int NUM_THREADS = NUM_WARPS * WARP_SIZE;
constexpr int WARP_TILE_M = BLOCK_M / WARPS_M;  // 64
constexpr int WARP_TILE_N = BLOCK_N / WARPS_N;  // 32
constexpr int MMA_K = MMA_K32;                  // FP8 mma (sm_89+); sm_80 runs it as two bf16 k16 steps
constexpr int M_FRAGS = WARP_TILE_M / MMA_M;
constexpr int N_FRAGS = WARP_TILE_N / MMA_N;
constexpr int K_STEPS = BLOCK_K / MMA_K;
constexpr int GROUP_M = 8;  // tile rows walked together (tile_raster.h)
// Partial and promoted accumulators (2 x 64 f32 per lane) need more than
// 128 registers, so one block of 8 warps per SM.
constexpr int MIN_BLOCKS_PER_SM = 1;

constexpr int ELEM_BYTES = 1;                 // FP8 codes
constexpr int CHUNK_ELEMS = SMEM_CHUNK_BYTES;  // FP8 codes per 16-byte copy
constexpr int CHUNKS_PER_ROW = BLOCK_K / CHUNK_ELEMS;
constexpr int CHUNKS_PER_MMA_K = MMA_K / CHUNK_ELEMS;
constexpr int A_STAGE_BYTES = BLOCK_M * BLOCK_K;
constexpr int B_STAGE_BYTES = BLOCK_N * BLOCK_K;
constexpr int STAGE_BYTES = A_STAGE_BYTES + B_STAGE_BYTES;
constexpr int SMEM_BYTES = NUM_STAGES * STAGE_BYTES;  // dynamic shared memory per block

static_assert(BLOCK_K == FP8_SCALE_BLOCK, "a stage is one scale block, so the promotion follows every stage");
static_assert(FP8_SCALE_BLOCK % BLOCK_N == 0, "a block's columns share one row of B scales");
static_assert(BLOCK_M % (WARPS_M * MMA_M) == 0 && BLOCK_N % (WARPS_N * MMA_N) == 0, "warp tiles are whole mma tiles");
static_assert(N_FRAGS % 2 == 0, "B fragments are loaded two n8 tiles per ldmatrix.x4");
static_assert(BLOCK_K % MMA_K == 0, "a stage holds whole mma k-steps");
static_assert(CHUNKS_PER_MMA_K == CHUNKS_PER_K_STEP, "an mma k32 step is the 32 bytes of K one ldmatrix.x4 loads");

// Top-left corner, inside the block tile, of warp `warp`'s WARP_TILE_M x WARP_TILE_N tile.
MOEKIT_HD constexpr RowCol warp_tile_origin(int warp) {
  return RowCol{(warp / WARPS_N) * WARP_TILE_M, (warp % WARPS_N) * WARP_TILE_N};
}

// Index into a_scales [m, scale_k] of row `row`'s scale for K block `kb`.
MOEKIT_HD constexpr int64_t a_scale_index(int64_t row, int64_t kb, int64_t scale_k) { return row * scale_k + kb; }

// Index into b_scales [scale rows, scale_k] of the scale for K block `kb`
// of every column of a tile whose columns use scale row `scale_row`
// (GemmTile::b_scale_row: n0 / 128 for the normal GEMM, all its columns
// falling in one 128-row block of B).
MOEKIT_HD constexpr int64_t b_scale_index(int64_t scale_row, int64_t kb, int64_t scale_k) { return scale_row * scale_k + kb; }

}  // namespace fp8_gemm_v2_config
}  // namespace moekit
