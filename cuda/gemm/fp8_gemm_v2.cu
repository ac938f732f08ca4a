// fp8Gemm v2 on CUDA: tensor cores through mma.sync (see fp8_gemm.h), any
// combination of E4M3/E5M2 operands, bf16 or f32 output. sm >= 80.
//
// A block computes a 128x128 tile of C (fp8_gemm_config_v2.h) with 8 warps, each a
// 64x32 sub-tile as 4x4 mma tiles. K advances one scale block (128 codes)
// per stage through a 3-stage cp.async pipeline into swizzled shared
// memory (swizzle.h); ldmatrix builds the fragments (fragment_load.cuh).
// Each stage is multiplied into zeroed f32 partial sums, which are then
// promoted into the f32 accumulators:
//   acc = fma(partial, a_scales[row, kb] * b_scales[n0 / 128, kb], acc)
// (all 128 columns of a block share one B scale row). The scales of the
// rows a lane owns are loaded before the stage's mma so their latency hides.
//   sm_89 and newer: FP8 m16n8k32 mma on the codes themselves.
//   sm_80..sm_88:    the same FP8 fragments decoded exactly to bf16 in
//                    registers and multiplied with two bf16 m16n8k16 mma per
//                    k32 step (fp8_unpack.h renames K so no data moves).
// Rows past m or n and K past k are zero-filled by the copies, so a ragged
// last K block sums only real elements; the epilogue writes only elements
// inside C. Needs k % 16 == 0 (16-byte copies of whole rows).
// The pipeline, tile scheduling and epilogue are the shared mainloop
// (multistage_mainloop.cuh, tile_scheduler.h); this file adds what a stage
// is multiplied by and the promotion (Fp8GemmV2Math). moe.groupedGemm runs
// the same kernel with the grouped tile scheduler.
//
// The index math (fragment layouts, ldmatrix addresses, swizzle, copy
// assignment, tile order, scale indices, the bf16 renaming) is in headers
// and checked on the CPU by tests/native/mma_layout_check.cc.
//
//   CPU twin: native/cpu/gemm/fp8_gemm.cc
//   tests:    tests/gemm/fp8_gemm_v2.test.ts (edge cases of this tiling), tests/native/mma_layout_check.cc
//   bench:    the fp8Gemm rows of bench/ (fp8_gemm.h)
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "../common/check.h"
#include "../common/launch.cuh"
#include "../common/shared_memory.cuh"
#include "../common/fp8_unpack.h"
#include "../common/fragment_load.cuh"
#include "../../native/common/math.h"
#include "../common/mma.cuh"
#include "../common/mma_layout.h"
#include "../common/multistage_mainloop.cuh"
#include "../common/tile_scheduler.h"
#include "fp8_gemm_config_v2.h"
#include "../../native/ops/gemm/fp8_gemm.h"

namespace moekit {

namespace {

using namespace fp8_gemm_v2_config;

using Pipeline = MultistagePipeline<NUM_THREADS, NUM_STAGES, BLOCK_K, ELEM_BYTES, CHUNKS_PER_ROW, A_STAGE_BYTES, B_STAGE_BYTES, M_FRAGS, N_FRAGS>;
using NormalScheduler = NormalTileScheduler<BLOCK_M, BLOCK_N, GROUP_M>;
using GroupedScheduler = GroupedTileScheduler<BLOCK_M, BLOCK_N, GROUP_M>;  // moe.groupedGemm

// part += A_step * B_step^T for one k32 step of every mma tile of the warp.
template <DType FA, DType FB>
__device__ __forceinline__ void mma_k32_step(float (&part)[M_FRAGS][N_FRAGS][4], const uint32_t (&a_frag)[M_FRAGS][4],
                                             const uint32_t (&b_frag)[N_FRAGS][2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#pragma unroll
  for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
    for (int j = 0; j < N_FRAGS; ++j) mma_m16n8k32_fp8<FA, FB>(part[i][j], a_frag[i], b_frag[j]);
  }
#else
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    uint32_t b16[N_FRAGS][2];
#pragma unroll
    for (int j = 0; j < N_FRAGS; ++j) fp8_b_fragment_as_bf16<FB>(b_frag[j], half, b16[j]);
#pragma unroll
    for (int i = 0; i < M_FRAGS; ++i) {
      uint32_t a16[4];
      fp8_a_fragment_as_bf16<FA>(a_frag[i], half, a16);
#pragma unroll
      for (int j = 0; j < N_FRAGS; ++j) mma_m16n8k16<DType::BF16>(part[i][j], a16, b16[j]);
    }
  }
#endif
}

// What fp8Gemm v2 does with a stage (multistage_mainloop.cuh): the stage's
// scale block summed into zeroed partial sums, then promoted into the
// accumulators with the block's two scales.
template <DType FA, DType FB, bool GATED>
class Fp8GemmV2Math {
 public:
  __device__ Fp8GemmV2Math(const Fp8GemmParams& p, const GemmTile& tile, RowCol warp_tile, int lane)
      : p_(p), tile_(tile), warp_tile_(warp_tile), lane_(lane) {}

  // One stage per scale block: k_tiles == p.scale_k == ceil(k / 128).
  __device__ static int64_t k_tiles(const Fp8GemmParams& p) { return p.scale_k; }

  // Scales of K block kt for the 2 * M_FRAGS rows this lane's accumulators
  // hold (rows past the problem get 0: their partial sums are 0 and never
  // stored), loaded before the stage wait so their latency hides.
  __device__ void prefetch(int64_t kt) {
#pragma unroll
    for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t row = tile_.a_row0 + warp_tile_.row + i * MMA_M + mma_c_coord(lane_, 2 * h).row;
        row_scale_[i][h] = row < tile_.a_rows ? p_.a_scales[a_scale_index(row, kt, p_.scale_k)] : 0.0f;
      }
    }
    col_scale_ = p_.b_scales[b_scale_index(tile_.b_scale_row, kt, p_.scale_k)];
    // A gated tile's odd fragments are up columns, scaled by the up rows' block (gated_tile.h).
    if constexpr (GATED) up_scale_ = p_.b_scales[b_scale_index(tile_.b_up_scale_row, kt, p_.scale_k)];
  }

  __device__ void multiply(float (&acc)[M_FRAGS][N_FRAGS][4], uint32_t a_tile, uint32_t b_tile) const {
    float part[M_FRAGS][N_FRAGS][4];
    zero_accumulators(part);
    // Rolled: unrolled, the compiler hoists the fragments of all K_STEPS
    // (24 registers each) beside the 128 accumulators and spills on sm_90a.
#pragma unroll 1
    for (int ks = 0; ks < K_STEPS; ++ks) {
      uint32_t a_frag[M_FRAGS][4];
      uint32_t b_frag[N_FRAGS][2];
      load_a_fragments<M_FRAGS, CHUNKS_PER_ROW>(a_frag, a_tile, warp_tile_.row, ks, lane_);
      load_b_fragments<N_FRAGS, CHUNKS_PER_ROW>(b_frag, b_tile, warp_tile_.col, ks, lane_);
      mma_k32_step<FA, FB>(part, a_frag, b_frag);
    }

    // Promotion: c0, c1 of a tile are on the lane's first row (h = 0), c2, c3 on its second.
#pragma unroll
    for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float s = row_scale_[i][h] * col_scale_;
        const float s_up = GATED ? row_scale_[i][h] * up_scale_ : s;
#pragma unroll
        for (int j = 0; j < N_FRAGS; ++j) {
          const float sj = j % 2 == 0 ? s : s_up;
          acc[i][j][2 * h] = fmaf(part[i][j][2 * h], sj, acc[i][j][2 * h]);
          acc[i][j][2 * h + 1] = fmaf(part[i][j][2 * h + 1], sj, acc[i][j][2 * h + 1]);
        }
      }
    }
  }

 private:
  const Fp8GemmParams& p_;
  GemmTile tile_;
  RowCol warp_tile_;
  int lane_;
  float row_scale_[M_FRAGS][2];
  float col_scale_;
  float up_scale_;
};

template <DType FA, DType FB, typename Scheduler, bool GATED>
__global__ void __launch_bounds__(NUM_THREADS, MIN_BLOCKS_PER_SM) fp8_gemm_v2_kernel(const Fp8GemmParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint8_t* smem = dynamic_shared_memory();
  multistage_mma_gemm<Pipeline, Scheduler, Fp8GemmV2Math<FA, FB, GATED>, GATED>(p, smem, warp_tile_origin(threadIdx.x / WARP_SIZE));
#else
  (void)p;
  __trap();
#endif
}

int64_t tile_count(const Fp8GemmParams& p) {
  return p.groups.layout == GroupLayout::None ? NormalScheduler(p).num_tiles() : GroupedScheduler(p).num_tiles();
}

template <DType FA, DType FB>
void launch(const Fp8GemmParams& p, cudaStream_t stream) {
  // Gated (SwiGLU) tiles come only through moe.groupedGemm, so with the grouped scheduler.
  const auto kernel = p.groups.layout == GroupLayout::None ? fp8_gemm_v2_kernel<FA, FB, NormalScheduler, false>
                      : p.gated                            ? fp8_gemm_v2_kernel<FA, FB, GroupedScheduler, true>
                                                           : fp8_gemm_v2_kernel<FA, FB, GroupedScheduler, false>;
  launch_kernel("fp8_gemm_v2_kernel", kernel, static_cast<unsigned>(tile_count(p)), NUM_THREADS, SMEM_BYTES, stream, p);
}

}  // namespace

const char* fp8_gemm_v2_unsupported(const Fp8GemmParams& p) {
  if (p.gated && p.groups.layout == GroupLayout::None) return "a gated (SwiGLU) GEMM runs through moe.groupedGemm";
  if (p.k % CHUNK_ELEMS != 0) return "k must be a multiple of 16 (rows are copied in 16-byte pieces)";
  if (reinterpret_cast<uintptr_t>(p.a) % SMEM_CHUNK_BYTES != 0 || reinterpret_cast<uintptr_t>(p.b) % SMEM_CHUNK_BYTES != 0) {
    return "a.values and b.values must start on 16-byte boundaries";
  }
  if (tile_count(p) > INT_MAX) return "m and n must give at most 2^31 - 1 tiles of 128x128";
  return nullptr;
}

void fp8_gemm_v2(const Fp8GemmParams& p, cudaStream_t stream) {
  if (tile_count(p) == 0) return;
  const bool a_e4m3 = p.a_format == DType::E4M3;
  const bool b_e4m3 = p.b_format == DType::E4M3;
  if (a_e4m3 && b_e4m3) {
    launch<DType::E4M3, DType::E4M3>(p, stream);
  } else if (a_e4m3) {
    launch<DType::E4M3, DType::E5M2>(p, stream);
  } else if (b_e4m3) {
    launch<DType::E5M2, DType::E4M3>(p, stream);
  } else {
    launch<DType::E5M2, DType::E5M2>(p, stream);
  }
}

}  // namespace moekit
