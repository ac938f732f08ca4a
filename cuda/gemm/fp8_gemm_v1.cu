// fp8Gemm v1 on CUDA: the simple portable kernel (see fp8_gemm.h). A 64x64
// output tile per block of 16x16 threads, 4x4 outputs per thread. For each
// 128-wide K block the tile's partial sums start at zero in f32 registers,
// run over four 32-wide chunks staged in shared memory (FP8 decoded exactly
// to f32 on the way in), and are then promoted: acc += partial * sa * sb.
// Any FP8 formats, any shape, any sm >= 80.
#include <cuda_runtime.h>

#include "../common/check.h"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"
#include "../common/simt_tile.cuh"
#include "../../native/ops/gemm/fp8_gemm.h"

namespace moekit {

namespace {

constexpr int BLOCK_M = 64;
constexpr int BLOCK_N = 64;
constexpr int CHUNK_K = 32;  // K elements staged in shared memory at a time
constexpr int CHUNKS_PER_SCALE_BLOCK = FP8_SCALE_BLOCK / CHUNK_K;
constexpr int THREADS_X = 16;
constexpr int THREADS_Y = 16;
constexpr int NUM_THREADS = THREADS_X * THREADS_Y;
constexpr int THREAD_M = BLOCK_M / THREADS_Y;
constexpr int THREAD_N = BLOCK_N / THREADS_X;
constexpr int64_t MAX_GRID_Y = 65535;

static_assert(FP8_SCALE_BLOCK % CHUNK_K == 0, "chunks must tile a scale block");
static_assert(FP8_SCALE_BLOCK % BLOCK_N == 0, "a tile's columns must share one B scale row");
static_assert(BLOCK_M * CHUNK_K % NUM_THREADS == 0, "A chunk loads split evenly over the threads");
static_assert(BLOCK_M == BLOCK_N, "one loop stages the A and B chunks together");

__device__ __forceinline__ float decode_fp8(uint8_t code, DType format) {
  return format == DType::E4M3 ? decode_narrow<Narrow::E4M3>(code) : decode_narrow<Narrow::E5M2>(code);
}

__global__ void __launch_bounds__(NUM_THREADS) fp8_gemm_v1_kernel(const Fp8GemmParams p) {
  __shared__ float a_tile[CHUNK_K][BLOCK_M + SIMT_TILE_PAD];
  __shared__ float b_tile[CHUNK_K][BLOCK_N + SIMT_TILE_PAD];
  const int tx = threadIdx.x % THREADS_X;
  const int ty = threadIdx.x / THREADS_X;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BLOCK_M;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BLOCK_N;
  const float* b_scale_row = p.b_scales + (n0 / FP8_SCALE_BLOCK) * p.scale_k;
  float acc[THREAD_M][THREAD_N] = {};

  for (int64_t kb = 0; kb < p.scale_k; ++kb) {
    float partial[THREAD_M][THREAD_N] = {};
    for (int chunk = 0; chunk < CHUNKS_PER_SCALE_BLOCK; ++chunk) {
      const int64_t k0 = kb * FP8_SCALE_BLOCK + chunk * CHUNK_K;
      if (k0 >= p.k) break;  // ragged last block: the rest is zero padding
      for (int e = threadIdx.x; e < BLOCK_M * CHUNK_K; e += NUM_THREADS) {
        const int r = e / CHUNK_K;
        const int kk = e % CHUNK_K;
        const int64_t row = m0 + r;
        const int64_t col = k0 + kk;
        a_tile[kk][r] = row < p.m && col < p.k ? decode_fp8(p.a[row * p.k + col], p.a_format) : 0.0f;
        const int64_t brow = n0 + r;
        b_tile[kk][r] = brow < p.n && col < p.k ? decode_fp8(p.b[brow * p.k + col], p.b_format) : 0.0f;
      }
      __syncthreads();
      simt_tile_fma(a_tile, b_tile, tx, ty, partial);
      __syncthreads();
    }
    // Promotion: the block's f32 partial sums, scaled, into the accumulator.
    const float sb = n0 < p.n ? b_scale_row[kb] : 0.0f;
#pragma unroll
    for (int i = 0; i < THREAD_M; ++i) {
      const int64_t row = m0 + ty * THREAD_M + i;
      const float s = row < p.m ? p.a_scales[row * p.scale_k + kb] * sb : 0.0f;
#pragma unroll
      for (int j = 0; j < THREAD_N; ++j) acc[i][j] = fmaf(partial[i][j], s, acc[i][j]);
    }
  }
  simt_tile_store(acc, p.c, p.c_dtype, p.m, p.n, m0, n0, tx, ty);
}

}  // namespace

const char* fp8_gemm_v1_unsupported(const Fp8GemmParams& p) {
  if (ceil_div<int64_t>(p.m, BLOCK_M) > MAX_GRID_Y) return "m must be at most 4194240 (65535 tiles of 64 rows)";
  return nullptr;
}

void fp8_gemm_v1(const Fp8GemmParams& p, cudaStream_t stream) {
  if (p.m == 0 || p.n == 0) return;
  const dim3 grid(static_cast<unsigned>(ceil_div<int64_t>(p.n, BLOCK_N)), static_cast<unsigned>(ceil_div<int64_t>(p.m, BLOCK_M)));
  fp8_gemm_v1_kernel<<<grid, NUM_THREADS, 0, stream>>>(p);
  MOEKIT_CUDA_CHECK_LAUNCH();
}

}  // namespace moekit
