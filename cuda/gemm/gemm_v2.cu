// gemm v2 on CUDA: tensor cores through mma.sync (see gemm.h), bf16 or f16
// operands, f32 accumulation, bf16/f16/f32 output. sm >= 80.
//
// A block computes a 128x128 tile of C (gemm_config_v2.h) with 8 warps, each a
// 64x32 sub-tile as 4x4 m16n8k16 mma tiles (64 f32 accumulators per lane).
// K advances 32 elements per stage through a 4-stage cp.async pipeline:
// while the warps multiply stage s, the copies of the next three stages are
// in flight. Tiles sit in shared memory swizzled (swizzle.h) so the ldmatrix
// loads that build the mma fragments are bank-conflict-free. Rows past m or
// n and K past k are zero-filled by the copies; the epilogue writes only
// elements inside C. Needs k % 8 == 0 (16-byte copies of whole rows).
//
// The index math (fragment layouts, ldmatrix addresses, swizzle, copy
// assignment, tile order, warp tiles) is in headers and checked on the CPU
// by tests/native/mma_layout_check.cc.
//
//   CPU twin: native/cpu/gemm/gemm.cc
//   tests:    tests/gemm/gemm_v2.test.ts (edge cases of this tiling), tests/native/mma_layout_check.cc
//   bench:    the gemm rows of bench/ (gemm.h)
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "../common/check.h"
#include "../common/fragment_load.cuh"
#include "../../native/common/math.h"
#include "../common/mma.cuh"
#include "../common/mma_layout.h"
#include "../common/store_pair.cuh"
#include "../common/swizzle.h"
#include "../common/tile_copy.cuh"
#include "../common/tile_raster.h"
#include "gemm_config_v2.h"
#include "../../native/ops/gemm/gemm.h"

namespace moekit {

namespace {

using namespace gemm_v2_config;

// This thread's copies of one stage of A (BLOCK_M rows) or B (BLOCK_N rows).
template <int COPIES>
__device__ __forceinline__ void copy_stage(uint32_t tile, const uint8_t* src, int64_t rows, int64_t k, int64_t row0, int64_t k0) {
  copy_tile_async<NUM_THREADS, CHUNKS_PER_ROW, ELEM_BYTES, COPIES>(tile, src, rows, k, row0, k0);
}

template <DType AB>
__global__ void __launch_bounds__(NUM_THREADS, MIN_BLOCKS_PER_SM) gemm_v2_kernel(const GemmParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  extern __shared__ __align__(128) uint8_t smem[];
  const TileIndex tile = grouped_tile(blockIdx.x, ceil_div<int64_t>(p.m, BLOCK_M), ceil_div<int64_t>(p.n, BLOCK_N), GROUP_M);
  const int64_t m0 = tile.m * BLOCK_M;
  const int64_t n0 = tile.n * BLOCK_N;
  const int lane = threadIdx.x % WARP_SIZE;
  const RowCol warp_tile = warp_tile_origin(threadIdx.x / WARP_SIZE);
  const uint32_t smem0 = smem_address(smem);
  const auto* a = static_cast<const uint8_t*>(p.a);
  const auto* b = static_cast<const uint8_t*>(p.b);
  const int64_t k_tiles = ceil_div<int64_t>(p.k, BLOCK_K);

  float acc[M_FRAGS][N_FRAGS][4];
#pragma unroll
  for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
    for (int j = 0; j < N_FRAGS; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
    }
  }

  // Prologue: stages 0 .. NUM_STAGES - 2 in flight, one commit group per
  // stage (empty past the last K tile, so group g is always K tile g).
#pragma unroll
  for (int s = 0; s < NUM_STAGES - 1; ++s) {
    if (s < k_tiles) {
      const uint32_t stage = smem0 + s * STAGE_BYTES;
      copy_stage<A_COPIES_PER_THREAD>(stage, a, p.m, p.k, m0, s * BLOCK_K);
      copy_stage<B_COPIES_PER_THREAD>(stage + A_STAGE_BYTES, b, p.n, p.k, n0, s * BLOCK_K);
    }
    cp_async_commit();
  }

  for (int64_t kt = 0; kt < k_tiles; ++kt) {
    // NUM_STAGES - 1 + kt groups are committed; with at most NUM_STAGES - 2
    // pending, group kt (this K tile) has landed for this thread's copies.
    cp_async_wait<NUM_STAGES - 2>();
    // All threads' copies of tile kt are now visible, and every warp is done
    // with tile kt - 1, whose stage the copies below overwrite.
    __syncthreads();
    const int64_t next = kt + NUM_STAGES - 1;
    if (next < k_tiles) {
      const uint32_t stage = smem0 + static_cast<uint32_t>(next % NUM_STAGES) * STAGE_BYTES;
      copy_stage<A_COPIES_PER_THREAD>(stage, a, p.m, p.k, m0, next * BLOCK_K);
      copy_stage<B_COPIES_PER_THREAD>(stage + A_STAGE_BYTES, b, p.n, p.k, n0, next * BLOCK_K);
    }
    cp_async_commit();

    const uint32_t a_tile = smem0 + static_cast<uint32_t>(kt % NUM_STAGES) * STAGE_BYTES;
    const uint32_t b_tile = a_tile + A_STAGE_BYTES;
#pragma unroll
    for (int ks = 0; ks < K_STEPS; ++ks) {
      uint32_t a_frag[M_FRAGS][4];
      uint32_t b_frag[N_FRAGS][2];
      load_a_fragments<M_FRAGS, CHUNKS_PER_ROW>(a_frag, a_tile, warp_tile.row, ks, lane);
      load_b_fragments<N_FRAGS, CHUNKS_PER_ROW>(b_frag, b_tile, warp_tile.col, ks, lane);
#pragma unroll
      for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
        for (int j = 0; j < N_FRAGS; ++j) mma_m16n8k16<AB>(acc[i][j], a_frag[i], b_frag[j]);
      }
    }
  }

  store_mma_accumulators(acc, p.c, p.c_dtype, p.m, p.n, m0 + warp_tile.row, n0 + warp_tile.col, lane);
#else
  (void)p;
  __trap();
#endif
}

int64_t tile_count(const GemmParams& p) { return ceil_div<int64_t>(p.m, BLOCK_M) * ceil_div<int64_t>(p.n, BLOCK_N); }

}  // namespace

const char* gemm_v2_unsupported(const GemmParams& p) {
  if (p.ab_dtype != DType::BF16 && p.ab_dtype != DType::F16) return "a and b must be bf16 or f16 (f32 operands run on v1)";
  if (p.k % CHUNK_ELEMS != 0) return "k must be a multiple of 8 (rows are copied in 16-byte pieces)";
  if (reinterpret_cast<uintptr_t>(p.a) % SMEM_CHUNK_BYTES != 0 || reinterpret_cast<uintptr_t>(p.b) % SMEM_CHUNK_BYTES != 0) {
    return "a and b must start on 16-byte boundaries";
  }
  if (tile_count(p) > INT_MAX) return "m and n must give at most 2^31 - 1 tiles of 128x128";
  return nullptr;
}

void gemm_v2(const GemmParams& p, cudaStream_t stream) {
  if (p.m == 0 || p.n == 0) return;
  const auto kernel = p.ab_dtype == DType::BF16 ? gemm_v2_kernel<DType::BF16> : gemm_v2_kernel<DType::F16>;
  MOEKIT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
  kernel<<<static_cast<unsigned>(tile_count(p)), NUM_THREADS, SMEM_BYTES, stream>>>(p);
  MOEKIT_CUDA_CHECK_LAUNCH();
}

}  // namespace moekit
