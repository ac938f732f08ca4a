// Tile shape of gemm v2 (cuda/gemm/gemm_v2.cu), and the geometry the kernel
// and tests/native/mma_layout_check.cc share: which part of the block tile
// a warp computes. Elements are 16-bit (bf16 or f16).
#pragma once

#include "../../native/common/hd.h"
#include "../common/mma_layout.h"
#include "../common/swizzle.h"

namespace moekit {
namespace gemm_v2_config {

constexpr int BLOCK_M = 128;  // output rows per block
constexpr int BLOCK_N = 128;  // output columns per block
constexpr int BLOCK_K = 32;   // K elements per pipeline stage
constexpr int NUM_STAGES = 4;
constexpr int WARPS_M = 2;
constexpr int WARPS_N = 4;
constexpr int NUM_WARPS = WARPS_M * WARPS_N;
constexpr int NUM_THREADS = NUM_WARPS * WARP_SIZE;
constexpr int WARP_TILE_M = BLOCK_M / WARPS_M;  // 64
constexpr int WARP_TILE_N = BLOCK_N / WARPS_N;  // 32
constexpr int MMA_K = MMA_K16;
constexpr int M_FRAGS = WARP_TILE_M / MMA_M;  // m16 tiles per warp
constexpr int N_FRAGS = WARP_TILE_N / MMA_N;  // n8 tiles per warp
constexpr int K_STEPS = BLOCK_K / MMA_K;      // mma k-steps per stage
constexpr int GROUP_M = 8;                    // tile rows walked together (tile_raster.h)
// Two blocks per SM (2 x 64 KB of shared memory fits sm_80 and sm_90) cap
// the registers at 128 per thread; ptxas fits the 64 accumulators in that
// without spills.
constexpr int MIN_BLOCKS_PER_SM = 2;

constexpr int ELEM_BYTES = 2;
constexpr int CHUNK_ELEMS = SMEM_CHUNK_BYTES / ELEM_BYTES;  // K elements per 16-byte copy
constexpr int CHUNKS_PER_ROW = BLOCK_K / CHUNK_ELEMS;
constexpr int CHUNKS_PER_MMA_K = MMA_K / CHUNK_ELEMS;
constexpr int A_STAGE_BYTES = BLOCK_M * BLOCK_K * ELEM_BYTES;
constexpr int B_STAGE_BYTES = BLOCK_N * BLOCK_K * ELEM_BYTES;
constexpr int STAGE_BYTES = A_STAGE_BYTES + B_STAGE_BYTES;
constexpr int SMEM_BYTES = NUM_STAGES * STAGE_BYTES;  // dynamic shared memory per block

static_assert(BLOCK_M % (WARPS_M * MMA_M) == 0 && BLOCK_N % (WARPS_N * MMA_N) == 0, "warp tiles are whole mma tiles");
static_assert(N_FRAGS % 2 == 0, "B fragments are loaded two n8 tiles per ldmatrix.x4");
static_assert(BLOCK_K % MMA_K == 0, "a stage holds whole mma k-steps");
static_assert(CHUNKS_PER_MMA_K == CHUNKS_PER_K_STEP, "an mma k16 step is the 32 bytes of K one ldmatrix.x4 loads");

// Top-left corner, inside the block tile, of warp `warp`'s WARP_TILE_M x WARP_TILE_N tile.
MOEKIT_HD constexpr RowCol warp_tile_origin(int warp) {
  return RowCol{(warp / WARPS_N) * WARP_TILE_M, (warp % WARPS_N) * WARP_TILE_N};
}

}  // namespace gemm_v2_config
}  // namespace moekit
