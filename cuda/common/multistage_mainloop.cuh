// The multistage cp.async mainloop of the mma.sync GEMMs (gemm v2, fp8Gemm
// v2), written once. A block computes one output tile, the one its tile
// scheduler names (tile_scheduler.h): K advances BLOCK_K per stage through
// a NUM_STAGES-deep ring of shared-memory stages; while the warps multiply
// stage s, the copies of the next NUM_STAGES - 1 stages are in flight. Rows
// past the tile's problem and K past k are zero-filled by the copies
// (tile_copy.cuh); the epilogue stores each warp's accumulators inside C
// only (store_pair.cuh).
//
// A kernel supplies three types:
//   Pipeline   MultistagePipeline<...>: threads, stages, stage bytes, the
//              warp's accumulator tile (from its config header);
//   Scheduler  which tile the block computes (tile_scheduler.h): the one
//              part a grouped GEMM over MoE experts swaps;
//   Math       what happens to a stage once it has landed:
//                __device__ Math(const Params& p, const GemmTile& tile, RowCol warp_tile, int lane);
//                __device__ static int64_t k_tiles(const Params& p);  // stages to run
//                __device__ void prefetch(int64_t kt);   // loads to hide behind the wait for stage kt
//                __device__ void multiply(float (&acc)[M_FRAGS][N_FRAGS][4], uint32_t a_tile, uint32_t b_tile);
// Params needs a, b (row-major [rows, k] operands), c, c_dtype, n (C's
// columns and row stride), k and row_scale (null, or a factor per row of
// C), besides what Scheduler and Math read. A gated tile (SwiGLU fused,
// gated_tile.h) loads its B rows in alternating gate and up blocks of one
// mma N (8) and stores silu(gate) * up.
#pragma once

#include <cstdint>

#include "mma.cuh"
#include "gated_tile.h"
#include "mma_layout.h"
#include "store_pair.cuh"
#include "swizzle.h"
#include "tile_copy.cuh"
#include "tile_scheduler.h"

namespace moekit {

// The shape of the pipeline, from a kernel's config header: NUM_THREADS
// threads copy each stage, A_STAGE_BYTES of A (BLOCK_K elements of
// ELEM_BYTES per row, CHUNKS_PER_ROW 16-byte chunks) then B_STAGE_BYTES of
// B; each warp holds M_FRAGS x N_FRAGS mma accumulator tiles.
template <int NUM_THREADS_, int NUM_STAGES_, int BLOCK_K_, int ELEM_BYTES_, int CHUNKS_PER_ROW_, int A_STAGE_BYTES_, int B_STAGE_BYTES_,
          int M_FRAGS_, int N_FRAGS_>
struct MultistagePipeline {
  static constexpr int NUM_THREADS = NUM_THREADS_;
  static constexpr int NUM_STAGES = NUM_STAGES_;
  static constexpr int BLOCK_K = BLOCK_K_;
  static constexpr int ELEM_BYTES = ELEM_BYTES_;
  static constexpr int CHUNKS_PER_ROW = CHUNKS_PER_ROW_;
  static constexpr int A_STAGE_BYTES = A_STAGE_BYTES_;
  static constexpr int STAGE_BYTES = A_STAGE_BYTES_ + B_STAGE_BYTES_;
  static constexpr int A_COPIES_PER_THREAD = A_STAGE_BYTES_ / (SMEM_CHUNK_BYTES * NUM_THREADS_);
  static constexpr int B_COPIES_PER_THREAD = B_STAGE_BYTES_ / (SMEM_CHUNK_BYTES * NUM_THREADS_);
  static constexpr int M_FRAGS = M_FRAGS_;
  static constexpr int N_FRAGS = N_FRAGS_;

  static_assert(BLOCK_K * ELEM_BYTES == CHUNKS_PER_ROW * SMEM_CHUNK_BYTES, "a stage row is CHUNKS_PER_ROW 16-byte chunks of K");
  static_assert(A_STAGE_BYTES_ % (SMEM_CHUNK_BYTES * NUM_THREADS_) == 0 && B_STAGE_BYTES_ % (SMEM_CHUNK_BYTES * NUM_THREADS_) == 0,
                "a stage's copies split evenly over the threads");
  static_assert(CHUNKS_PER_ROW == 2 || CHUNKS_PER_ROW == 4 || CHUNKS_PER_ROW == 8, "the swizzle is conflict-free for 2, 4 or 8 chunks per row");
  static_assert(A_STAGE_BYTES % (SMEM_LINE_CHUNKS * SMEM_CHUNK_BYTES) == 0, "a tile is whole 128-byte lines (the swizzle stays inside)");
  static_assert(NUM_STAGES >= 2, "the pipeline overlaps at least one copy with compute");
  static_assert(NUM_STAGES * STAGE_BYTES <= 99 * 1024, "fits the opt-in shared memory of every sm >= 80 (sm_86/89: 99 KB)");
};

template <int M_FRAGS, int N_FRAGS>
__device__ __forceinline__ void zero_accumulators(float (&acc)[M_FRAGS][N_FRAGS][4]) {
#pragma unroll
  for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
    for (int j = 0; j < N_FRAGS; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
    }
  }
}

// The whole block's work: this warp's part of the tile of block blockIdx.x,
// from the first stage's copies to the stores. `smem`: Pipeline::NUM_STAGES
// * STAGE_BYTES of dynamic shared memory; `warp_tile`: this warp's corner
// inside the block tile.
// GATED: the SwiGLU-gated mode (p.gated), a separate instantiation so the
// plain kernels carry none of its registers.
template <typename Pipeline, typename Scheduler, typename Math, bool GATED = false, typename Params>
__device__ __forceinline__ void multistage_mma_gemm(const Params& p, uint8_t* smem, RowCol warp_tile) {
  constexpr int NUM_STAGES = Pipeline::NUM_STAGES;
  constexpr int STAGE_BYTES = Pipeline::STAGE_BYTES;
  const GemmTile tile = Scheduler(p).tile(blockIdx.x);
  if (tile.empty()) return;  // a grouped grid's tile with no rows behind it (block-uniform)
  const int lane = threadIdx.x % WARP_SIZE;
  const uint32_t smem0 = smem_address(smem);
  const auto* a = static_cast<const uint8_t*>(p.a);
  const auto* b = static_cast<const uint8_t*>(p.b);
  Math math(p, tile, warp_tile, lane);
  const int64_t k_tiles = Math::k_tiles(p);
  // This thread's copies of K tile kt of A and B into the stage at `stage`.
  const auto copy_stage = [&](uint32_t stage, int64_t kt) {
    constexpr int T = Pipeline::NUM_THREADS, C = Pipeline::CHUNKS_PER_ROW, E = Pipeline::ELEM_BYTES;
    copy_tile_async<T, C, E, Pipeline::A_COPIES_PER_THREAD>(stage, a, tile.a_rows, p.k, tile.a_row0, kt * Pipeline::BLOCK_K);
    if constexpr (!GATED) {
      copy_tile_async<T, C, E, Pipeline::B_COPIES_PER_THREAD>(stage + Pipeline::A_STAGE_BYTES, b, tile.b_rows, p.k, tile.b_row0,
                                                              kt * Pipeline::BLOCK_K);
    } else {
      const auto b_row = [&](int r) { return tile_b_row<MMA_N>(tile, p.n, r); };
      copy_rows_async<T, C, E, Pipeline::B_COPIES_PER_THREAD>(stage + Pipeline::A_STAGE_BYTES, b, p.k, kt * Pipeline::BLOCK_K, b_row);
    }
  };

  float acc[Pipeline::M_FRAGS][Pipeline::N_FRAGS][4];
  zero_accumulators(acc);

  // Prologue: stages 0 .. NUM_STAGES - 2 in flight, one commit group per
  // stage (empty past the last K tile, so group g is always K tile g).
#pragma unroll
  for (int s = 0; s < NUM_STAGES - 1; ++s) {
    if (s < k_tiles) copy_stage(smem0 + s * STAGE_BYTES, s);
    cp_async_commit();
  }

  for (int64_t kt = 0; kt < k_tiles; ++kt) {
    math.prefetch(kt);
    // NUM_STAGES - 1 + kt groups are committed; with at most NUM_STAGES - 2
    // pending, group kt (this K tile) has landed for this thread's copies.
    cp_async_wait<NUM_STAGES - 2>();
    // All threads' copies of tile kt are now visible, and every warp is done
    // with tile kt - 1, whose stage the copies below overwrite.
    __syncthreads();
    const int64_t next = kt + NUM_STAGES - 1;
    if (next < k_tiles) copy_stage(smem0 + static_cast<uint32_t>(next % NUM_STAGES) * STAGE_BYTES, next);
    cp_async_commit();

    const uint32_t a_tile = smem0 + static_cast<uint32_t>(kt % NUM_STAGES) * STAGE_BYTES;
    math.multiply(acc, a_tile, a_tile + Pipeline::A_STAGE_BYTES);
  }

  if constexpr (!GATED) {
    store_mma_accumulators(acc, p.c, p.c_dtype, tile.a_rows, p.n, tile.a_row0 + warp_tile.row, tile.c_col0 + warp_tile.col, lane, p.row_scale);
  } else {
    // Gate and up fragments alternate (gated_tile.h): the warp's WARP_TILE_N tile columns are WARP_TILE_N / 2 of C.
    store_gated_mma_accumulators(acc, p.c, p.c_dtype, tile.a_rows, p.n, tile.a_row0 + warp_tile.row, tile.c_col0 + warp_tile.col / 2, lane,
                                 p.row_scale);
  }
}

}  // namespace moekit
