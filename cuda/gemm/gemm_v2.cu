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
// The pipeline, tile scheduling and epilogue are the shared mainloop
// (multistage_mainloop.cuh, tile_scheduler.h); this file adds what a stage
// is multiplied by (GemmV2Math). moe.groupedGemm runs the same kernel with
// the grouped tile scheduler.
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
#include "../common/launch.cuh"
#include "../common/shared_memory.cuh"
#include "../common/fragment_load.cuh"
#include "../../native/common/math.h"
#include "../common/mma.cuh"
#include "../common/mma_layout.h"
#include "../common/multistage_mainloop.cuh"
#include "../common/tile_scheduler.h"
#include "gemm_config_v2.h"
#include "../../native/ops/gemm/gemm.h"

namespace moekit {

namespace {

using namespace gemm_v2_config;

using Pipeline = MultistagePipeline<NUM_THREADS, NUM_STAGES, BLOCK_K, ELEM_BYTES, CHUNKS_PER_ROW, A_STAGE_BYTES, B_STAGE_BYTES, M_FRAGS, N_FRAGS>;
using NormalScheduler = NormalTileScheduler<BLOCK_M, BLOCK_N, GROUP_M>;
using GroupedScheduler = GroupedTileScheduler<BLOCK_M, BLOCK_N, GROUP_M>;  // moe.groupedGemm

// What gemm v2 does with a stage (multistage_mainloop.cuh): K_STEPS mma k16
// steps straight into the accumulators.
template <DType AB>
class GemmV2Math {
 public:
  __device__ GemmV2Math(const GemmParams&, const GemmTile&, RowCol warp_tile, int lane) : warp_tile_(warp_tile), lane_(lane) {}

  __device__ static int64_t k_tiles(const GemmParams& p) { return ceil_div<int64_t>(p.k, BLOCK_K); }

  __device__ void prefetch(int64_t) {}

  __device__ void multiply(float (&acc)[M_FRAGS][N_FRAGS][4], uint32_t a_tile, uint32_t b_tile) const {
#pragma unroll
    for (int ks = 0; ks < K_STEPS; ++ks) {
      uint32_t a_frag[M_FRAGS][4];
      uint32_t b_frag[N_FRAGS][2];
      load_a_fragments<M_FRAGS, CHUNKS_PER_ROW>(a_frag, a_tile, warp_tile_.row, ks, lane_);
      load_b_fragments<N_FRAGS, CHUNKS_PER_ROW>(b_frag, b_tile, warp_tile_.col, ks, lane_);
#pragma unroll
      for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
        for (int j = 0; j < N_FRAGS; ++j) mma_m16n8k16<AB>(acc[i][j], a_frag[i], b_frag[j]);
      }
    }
  }

 private:
  RowCol warp_tile_;
  int lane_;
};

template <DType AB, typename Scheduler, bool GATED>
__global__ void __launch_bounds__(NUM_THREADS, MIN_BLOCKS_PER_SM) gemm_v2_kernel(const GemmParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint8_t* smem = dynamic_shared_memory();
  multistage_mma_gemm<Pipeline, Scheduler, GemmV2Math<AB>, GATED>(p, smem, warp_tile_origin(threadIdx.x / WARP_SIZE));
#else
  (void)p;
  __trap();
#endif
}

int64_t tile_count(const GemmParams& p) {
  return p.groups.layout == GroupLayout::None ? NormalScheduler(p).num_tiles() : GroupedScheduler(p).num_tiles();
}

template <DType AB>
void launch(const GemmParams& p, cudaStream_t stream) {
  // Gated (SwiGLU) tiles come only through moe.groupedGemm, so with the grouped scheduler.
  const auto kernel = p.groups.layout == GroupLayout::None ? gemm_v2_kernel<AB, NormalScheduler, false>
                      : p.gated                            ? gemm_v2_kernel<AB, GroupedScheduler, true>
                                                           : gemm_v2_kernel<AB, GroupedScheduler, false>;
  launch_kernel("gemm_v2_kernel", kernel, static_cast<unsigned>(tile_count(p)), NUM_THREADS, SMEM_BYTES, stream, p);
}

}  // namespace

const char* gemm_v2_unsupported(const GemmParams& p) {
  if (p.gated && p.groups.layout == GroupLayout::None) return "a gated (SwiGLU) GEMM runs through moe.groupedGemm";
  if (p.ab_dtype != DType::BF16 && p.ab_dtype != DType::F16) return "a and b must be bf16 or f16 (f32 operands run on v1)";
  if (p.k % CHUNK_ELEMS != 0) return "k must be a multiple of 8 (rows are copied in 16-byte pieces)";
  if (reinterpret_cast<uintptr_t>(p.a) % SMEM_CHUNK_BYTES != 0 || reinterpret_cast<uintptr_t>(p.b) % SMEM_CHUNK_BYTES != 0) {
    return "a and b must start on 16-byte boundaries";
  }
  if (tile_count(p) > INT_MAX) return "m and n must give at most 2^31 - 1 tiles of 128x128";
  return nullptr;
}

void gemm_v2(const GemmParams& p, cudaStream_t stream) {
  if (tile_count(p) == 0) return;
  if (p.ab_dtype == DType::BF16) {
    launch<DType::BF16>(p, stream);
  } else {
    launch<DType::F16>(p, stream);
  }
}

}  // namespace moekit
