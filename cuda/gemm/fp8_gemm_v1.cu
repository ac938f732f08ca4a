// fp8Gemm v1 on CUDA: the simple portable kernel (see fp8_gemm.h). A 64x64
// output tile per block of 16x16 threads, 4x4 outputs per thread. For each
// 128-wide K block the tile's partial sums start at zero in f32 registers,
// run over four 32-wide chunks staged in shared memory (FP8 decoded exactly
// to f32 on the way in), and are then promoted: acc += partial * sa * sb.
// Any FP8 formats, any shape, any sm >= 80. With an expert layout in the
// params (moe.groupedGemm) the grouped tile scheduler picks each block's
// tile; the kernel is the same.
#include <cuda_runtime.h>

#include "../../native/common/float_convert.h"
#include "../common/simt_tile.cuh"
#include "../../native/ops/gemm/fp8_gemm.h"

namespace moekit {

namespace {

using namespace simt_gemm_config;

constexpr int CHUNK_K = 32;  // K elements staged in shared memory at a time
constexpr int CHUNKS_PER_SCALE_BLOCK = FP8_SCALE_BLOCK / CHUNK_K;

static_assert(FP8_SCALE_BLOCK % CHUNK_K == 0, "chunks must tile a scale block");
static_assert(FP8_SCALE_BLOCK % BLOCK_N == 0, "a tile's columns must share one B scale row");

__device__ __forceinline__ float decode_fp8(uint8_t code, DType format) {
  return format == DType::E4M3 ? decode_narrow<Narrow::E4M3>(code) : decode_narrow<Narrow::E5M2>(code);
}

template <typename Scheduler>
__global__ void __launch_bounds__(NUM_THREADS) fp8_gemm_v1_kernel(const Fp8GemmParams p) {
  __shared__ float a_tile[CHUNK_K][BLOCK_M + SIMT_TILE_PAD];
  __shared__ float b_tile[CHUNK_K][BLOCK_N + SIMT_TILE_PAD];
  const GemmTile tile = Scheduler(p).tile(blockIdx.x);
  if (tile.empty()) return;
  const SimtThread t = simt_thread();
  const auto load_a = [&](int64_t i) { return decode_fp8(p.a[i], p.a_format); };
  const auto load_b = [&](int64_t i) { return decode_fp8(p.b[i], p.b_format); };
  const float* b_scale_row = p.b_scales + tile.b_scale_row * p.scale_k;
  // A gated tile's up columns (the second half of each thread's) scale by the up rows' block.
  const float* b_up_scale_row = p.b_scales + (tile.up_offset ? tile.b_up_scale_row : tile.b_scale_row) * p.scale_k;
  float acc[THREAD_M][THREAD_N] = {};

  for (int64_t kb = 0; kb < p.scale_k; ++kb) {
    float partial[THREAD_M][THREAD_N] = {};
    for (int chunk = 0; chunk < CHUNKS_PER_SCALE_BLOCK; ++chunk) {
      const int64_t k0 = kb * FP8_SCALE_BLOCK + chunk * CHUNK_K;
      if (k0 >= p.k) break;  // ragged last block: the rest is zero padding
      simt_stage_tiles(a_tile, b_tile, tile, p.n, p.k, k0, load_a, load_b);
      __syncthreads();
      simt_tile_fma(a_tile, b_tile, t.tx, t.ty, partial);
      __syncthreads();
    }
    // Promotion: the block's f32 partial sums, scaled, into the accumulator.
    const float sb = b_scale_row[kb];
    const float sb_up = b_up_scale_row[kb];
#pragma unroll
    for (int i = 0; i < THREAD_M; ++i) {
      const int64_t row = tile.a_row0 + t.ty * THREAD_M + i;
      const float sa = row < tile.a_rows ? p.a_scales[row * p.scale_k + kb] : 0.0f;
#pragma unroll
      for (int j = 0; j < THREAD_N; ++j) acc[i][j] = fmaf(partial[i][j], sa * (j < GATE_WIDTH ? sb : sb_up), acc[i][j]);
    }
  }
  simt_tile_store(acc, p.c, p.c_dtype, tile, p.n, p.row_scale, t);
}

}  // namespace

const char* fp8_gemm_v1_unsupported(const Fp8GemmParams& p) { return simt_gemm_unsupported(p); }

void fp8_gemm_v1(const Fp8GemmParams& p, cudaStream_t stream) {
  launch_simt_gemm("fp8_gemm_v1_kernel", fp8_gemm_v1_kernel<NormalScheduler>, fp8_gemm_v1_kernel<GroupedScheduler>, p, stream);
}

}  // namespace moekit
