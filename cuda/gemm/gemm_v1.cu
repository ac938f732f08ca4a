// gemm v1 on CUDA: the simple portable kernel (see gemm.h). A 64x64 output
// tile per block of 16x16 threads, each thread 4x4 outputs in f32 registers;
// K advances 16 at a time through shared memory, stored k-major so the inner
// loop reads contiguous rows. Any dtype, any shape, any sm >= 80.
#include <cuda_runtime.h>

#include "../common/check.h"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"
#include "../common/simt_tile.cuh"
#include "../../native/ops/gemm/gemm.h"

namespace moekit {

namespace {

constexpr int BLOCK_M = 64;
constexpr int BLOCK_N = 64;
constexpr int BLOCK_K = 16;
constexpr int THREADS_X = 16;
constexpr int THREADS_Y = 16;
constexpr int NUM_THREADS = THREADS_X * THREADS_Y;
constexpr int THREAD_M = BLOCK_M / THREADS_Y;
constexpr int THREAD_N = BLOCK_N / THREADS_X;
constexpr int64_t MAX_GRID_Y = 65535;

static_assert(BLOCK_M * BLOCK_K % NUM_THREADS == 0, "A tile loads split evenly over the threads");
static_assert(BLOCK_N * BLOCK_K % NUM_THREADS == 0, "B tile loads split evenly over the threads");

__global__ void __launch_bounds__(NUM_THREADS) gemm_v1_kernel(const GemmParams p) {
  __shared__ float a_tile[BLOCK_K][BLOCK_M + SIMT_TILE_PAD];
  __shared__ float b_tile[BLOCK_K][BLOCK_N + SIMT_TILE_PAD];
  const int tx = threadIdx.x % THREADS_X;
  const int ty = threadIdx.x / THREADS_X;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BLOCK_M;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BLOCK_N;
  float acc[THREAD_M][THREAD_N] = {};

  for (int64_t k0 = 0; k0 < p.k; k0 += BLOCK_K) {
    // Consecutive threads read consecutive k of a row: coalesced along K.
    for (int e = threadIdx.x; e < BLOCK_M * BLOCK_K; e += NUM_THREADS) {
      const int r = e / BLOCK_K;
      const int kk = e % BLOCK_K;
      const int64_t row = m0 + r;
      const int64_t col = k0 + kk;
      a_tile[kk][r] = row < p.m && col < p.k ? load_as_float(p.a, p.ab_dtype, row * p.k + col) : 0.0f;
    }
    for (int e = threadIdx.x; e < BLOCK_N * BLOCK_K; e += NUM_THREADS) {
      const int r = e / BLOCK_K;
      const int kk = e % BLOCK_K;
      const int64_t row = n0 + r;
      const int64_t col = k0 + kk;
      b_tile[kk][r] = row < p.n && col < p.k ? load_as_float(p.b, p.ab_dtype, row * p.k + col) : 0.0f;
    }
    __syncthreads();
    simt_tile_fma(a_tile, b_tile, tx, ty, acc);
    __syncthreads();
  }
  simt_tile_store(acc, p.c, p.c_dtype, p.m, p.n, m0, n0, tx, ty);
}

}  // namespace

const char* gemm_v1_unsupported(const GemmParams& p) {
  if (ceil_div<int64_t>(p.m, BLOCK_M) > MAX_GRID_Y) return "m must be at most 4194240 (65535 tiles of 64 rows)";
  return nullptr;
}

void gemm_v1(const GemmParams& p, cudaStream_t stream) {
  if (p.m == 0 || p.n == 0) return;
  const dim3 grid(static_cast<unsigned>(ceil_div<int64_t>(p.n, BLOCK_N)), static_cast<unsigned>(ceil_div<int64_t>(p.m, BLOCK_M)));
  gemm_v1_kernel<<<grid, NUM_THREADS, 0, stream>>>(p);
  MOEKIT_CUDA_CHECK_LAUNCH();
}

}  // namespace moekit
