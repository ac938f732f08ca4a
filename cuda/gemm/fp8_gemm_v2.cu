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
#include "../common/fp8_unpack.h"
#include "../common/fragment_load.cuh"
#include "../../native/common/math.h"
#include "../common/mma.cuh"
#include "../common/mma_layout.h"
#include "../common/store_pair.cuh"
#include "../common/swizzle.h"
#include "../common/tile_copy.cuh"
#include "../common/tile_raster.h"
#include "fp8_gemm_config_v2.h"
#include "../../native/ops/gemm/fp8_gemm.h"

namespace moekit {

namespace {

using namespace fp8_gemm_v2_config;

// This thread's copies of one stage of A (BLOCK_M rows) or B (BLOCK_N rows).
template <int COPIES>
__device__ __forceinline__ void copy_stage(uint32_t tile, const uint8_t* src, int64_t rows, int64_t k, int64_t row0, int64_t k0) {
  copy_tile_async<NUM_THREADS, CHUNKS_PER_ROW, 1, COPIES>(tile, src, rows, k, row0, k0);
}

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

template <DType FA, DType FB>
__global__ void __launch_bounds__(NUM_THREADS, MIN_BLOCKS_PER_SM) fp8_gemm_v2_kernel(const Fp8GemmParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  extern __shared__ __align__(128) uint8_t smem[];
  const TileIndex tile = grouped_tile(blockIdx.x, ceil_div<int64_t>(p.m, BLOCK_M), ceil_div<int64_t>(p.n, BLOCK_N), GROUP_M);
  const int64_t m0 = tile.m * BLOCK_M;
  const int64_t n0 = tile.n * BLOCK_N;
  const int lane = threadIdx.x % WARP_SIZE;
  const RowCol warp_tile = warp_tile_origin(threadIdx.x / WARP_SIZE);
  const uint32_t smem0 = smem_address(smem);
  // One stage per scale block: k_tiles == p.scale_k == ceil(k / 128).
  const int64_t k_tiles = p.scale_k;

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
      copy_stage<A_COPIES_PER_THREAD>(stage, p.a, p.m, p.k, m0, s * BLOCK_K);
      copy_stage<B_COPIES_PER_THREAD>(stage + A_STAGE_BYTES, p.b, p.n, p.k, n0, s * BLOCK_K);
    }
    cp_async_commit();
  }

  for (int64_t kt = 0; kt < k_tiles; ++kt) {
    // Scales of K block kt for the 2 * M_FRAGS rows this lane's accumulators
    // hold (rows past m get 0: their partial sums are 0 and never stored).
    float row_scale[M_FRAGS][2];
#pragma unroll
    for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t row = m0 + warp_tile.row + i * MMA_M + mma_c_coord(lane, 2 * h).row;
        row_scale[i][h] = row < p.m ? p.a_scales[a_scale_index(row, kt, p.scale_k)] : 0.0f;
      }
    }
    const float col_scale = p.b_scales[b_scale_index(n0, kt, p.scale_k)];

    // NUM_STAGES - 1 + kt groups are committed; with at most NUM_STAGES - 2
    // pending, group kt (this K tile) has landed for this thread's copies.
    cp_async_wait<NUM_STAGES - 2>();
    // All threads' copies of tile kt are now visible, and every warp is done
    // with tile kt - 1, whose stage the copies below overwrite.
    __syncthreads();
    const int64_t next = kt + NUM_STAGES - 1;
    if (next < k_tiles) {
      const uint32_t stage = smem0 + static_cast<uint32_t>(next % NUM_STAGES) * STAGE_BYTES;
      copy_stage<A_COPIES_PER_THREAD>(stage, p.a, p.m, p.k, m0, next * BLOCK_K);
      copy_stage<B_COPIES_PER_THREAD>(stage + A_STAGE_BYTES, p.b, p.n, p.k, n0, next * BLOCK_K);
    }
    cp_async_commit();

    const uint32_t a_tile = smem0 + static_cast<uint32_t>(kt % NUM_STAGES) * STAGE_BYTES;
    const uint32_t b_tile = a_tile + A_STAGE_BYTES;
    float part[M_FRAGS][N_FRAGS][4];
#pragma unroll
    for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
      for (int j = 0; j < N_FRAGS; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) part[i][j][e] = 0.0f;
      }
    }
    // Rolled: unrolled, the compiler hoists the fragments of all K_STEPS
    // (24 registers each) beside the 128 accumulators and spills on sm_90a.
#pragma unroll 1
    for (int ks = 0; ks < K_STEPS; ++ks) {
      uint32_t a_frag[M_FRAGS][4];
      uint32_t b_frag[N_FRAGS][2];
      load_a_fragments<M_FRAGS, CHUNKS_PER_ROW>(a_frag, a_tile, warp_tile.row, ks, lane);
      load_b_fragments<N_FRAGS, CHUNKS_PER_ROW>(b_frag, b_tile, warp_tile.col, ks, lane);
      mma_k32_step<FA, FB>(part, a_frag, b_frag);
    }

    // Promotion: c0, c1 of a tile are on the lane's first row (h = 0), c2, c3 on its second.
#pragma unroll
    for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float s = row_scale[i][h] * col_scale;
#pragma unroll
        for (int j = 0; j < N_FRAGS; ++j) {
          acc[i][j][2 * h] = fmaf(part[i][j][2 * h], s, acc[i][j][2 * h]);
          acc[i][j][2 * h + 1] = fmaf(part[i][j][2 * h + 1], s, acc[i][j][2 * h + 1]);
        }
      }
    }
  }

  store_mma_accumulators(acc, p.c, p.c_dtype, p.m, p.n, m0 + warp_tile.row, n0 + warp_tile.col, lane);
#else
  (void)p;
  __trap();
#endif
}

int64_t tile_count(const Fp8GemmParams& p) { return ceil_div<int64_t>(p.m, BLOCK_M) * ceil_div<int64_t>(p.n, BLOCK_N); }

template <DType FA, DType FB>
void launch(const Fp8GemmParams& p, cudaStream_t stream) {
  MOEKIT_CUDA_CHECK(cudaFuncSetAttribute(fp8_gemm_v2_kernel<FA, FB>, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
  fp8_gemm_v2_kernel<FA, FB><<<static_cast<unsigned>(tile_count(p)), NUM_THREADS, SMEM_BYTES, stream>>>(p);
  MOEKIT_CUDA_CHECK_LAUNCH();
}

}  // namespace

const char* fp8_gemm_v2_unsupported(const Fp8GemmParams& p) {
  if (p.k % CHUNK_ELEMS != 0) return "k must be a multiple of 16 (rows are copied in 16-byte pieces)";
  if (reinterpret_cast<uintptr_t>(p.a) % SMEM_CHUNK_BYTES != 0 || reinterpret_cast<uintptr_t>(p.b) % SMEM_CHUNK_BYTES != 0) {
    return "a.values and b.values must start on 16-byte boundaries";
  }
  if (tile_count(p) > INT_MAX) return "m and n must give at most 2^31 - 1 tiles of 128x128";
  return nullptr;
}

void fp8_gemm_v2(const Fp8GemmParams& p, cudaStream_t stream) {
  if (p.m == 0 || p.n == 0) return;
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
