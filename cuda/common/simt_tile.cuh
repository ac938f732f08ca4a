// The tiling of the simple SIMT GEMM kernels (gemm v1, fp8Gemm v1): a
// BLOCK_M x BLOCK_N output tile per block of THREADS_Y x THREADS_X threads
// on a 2-D grid (x: tile columns, y: tile rows), each thread owning
// THREAD_M x THREAD_N outputs in f32 registers; K is staged k-major in
// shared memory, where the inner loop reads contiguous rows. The kernels
// differ only in how K is split and how an element is decoded.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "check.h"
#include "launch.cuh"
#include "../../native/common/dtype.h"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"

namespace moekit {
namespace simt_gemm_config {

constexpr int BLOCK_M = 64;
constexpr int BLOCK_N = 64;
constexpr int THREADS_X = 16;
constexpr int THREADS_Y = 16;
constexpr int NUM_THREADS = THREADS_X * THREADS_Y;
constexpr int THREAD_M = BLOCK_M / THREADS_Y;
constexpr int THREAD_N = BLOCK_N / THREADS_X;
constexpr int64_t MAX_GRID_Y = 65535;  // tile rows: gridDim.y's limit

static_assert(BLOCK_M % THREADS_Y == 0 && BLOCK_N % THREADS_X == 0, "micro-tiles split the block tile evenly");

}  // namespace simt_gemm_config

// Why an [m, n] output cannot be launched on this grid (nullptr: it can).
inline const char* simt_gemm_unsupported(int64_t m) {
  using namespace simt_gemm_config;
  return ceil_div<int64_t>(m, BLOCK_M) > MAX_GRID_Y ? "m must be at most 4194240 (65535 tiles of 64 rows)" : nullptr;
}

// Launches `kernel` over the p.m x p.n output, a block per tile; nothing for an empty one.
template <typename Params>
void launch_simt_gemm(const char* name, void (*kernel)(Params), const Params& p, cudaStream_t stream) {
  using namespace simt_gemm_config;
  if (p.m == 0 || p.n == 0) return;
  const dim3 grid(static_cast<unsigned>(ceil_div<int64_t>(p.n, BLOCK_N)), static_cast<unsigned>(ceil_div<int64_t>(p.m, BLOCK_M)));
  launch_kernel(name, kernel, grid, NUM_THREADS, 0, stream, p);
}

// This thread's place: its micro-tile column and row inside the block, and
// the block tile's first row and column of C.
struct SimtThread {
  int tx;
  int ty;
  int64_t m0;
  int64_t n0;
};

__device__ __forceinline__ SimtThread simt_thread() {
  using namespace simt_gemm_config;
  return SimtThread{static_cast<int>(threadIdx.x % THREADS_X), static_cast<int>(threadIdx.x / THREADS_X),
                    static_cast<int64_t>(blockIdx.y) * BLOCK_M, static_cast<int64_t>(blockIdx.x) * BLOCK_N};
}

// Shared tiles are stored k-major with rows padded by one float: the loads
// write tile[kk][r] with kk varying fastest across a warp, and an unpadded
// row of 64 floats would put those writes in one bank.
constexpr int SIMT_TILE_PAD = 1;

// Stages K [k0, k0 + BK) of the block's rows of A and B into a_tile and
// b_tile, k-major, as f32: rows [m0, m0 + BLOCK_M) of the row-major [m, k]
// A and [n0, n0 + BLOCK_N) of the [n, k] B; load_a(i) / load_b(i) decode
// the element at flat index i; elements outside the matrices are 0.
// Consecutive threads read consecutive k of a row: coalesced along K.
template <int BK, int AW, int BW, typename LoadA, typename LoadB>
__device__ __forceinline__ void simt_stage_tiles(float (&a_tile)[BK][AW], float (&b_tile)[BK][BW], int64_t m, int64_t n, int64_t k,
                                                 int64_t m0, int64_t n0, int64_t k0, LoadA load_a, LoadB load_b) {
  using namespace simt_gemm_config;
  static_assert(BLOCK_M == BLOCK_N, "one loop stages the A and B tiles together");
  static_assert(BLOCK_M * BK % NUM_THREADS == 0, "tile loads split evenly over the threads");
  for (int e = threadIdx.x; e < BLOCK_M * BK; e += NUM_THREADS) {
    const int r = e / BK;
    const int kk = e % BK;
    const int64_t col = k0 + kk;
    const int64_t a_row = m0 + r;
    a_tile[kk][r] = a_row < m && col < k ? load_a(a_row * k + col) : 0.0f;
    const int64_t b_row = n0 + r;
    b_tile[kk][r] = b_row < n && col < k ? load_b(b_row * k + col) : 0.0f;
  }
}

// acc[i][j] += sum over kk of a_tile[kk][ty*TM + i] * b_tile[kk][tx*TN + j].
// AW, BW: the padded row widths of the tiles.
template <int TM, int TN, int BK, int AW, int BW>
__device__ __forceinline__ void simt_tile_fma(const float (&a_tile)[BK][AW], const float (&b_tile)[BK][BW], int tx, int ty,
                                              float (&acc)[TM][TN]) {
#pragma unroll
  for (int kk = 0; kk < BK; ++kk) {
    float a[TM];
    float b[TN];
#pragma unroll
    for (int i = 0; i < TM; ++i) a[i] = a_tile[kk][ty * TM + i];
#pragma unroll
    for (int j = 0; j < TN; ++j) b[j] = b_tile[kk][tx * TN + j];
#pragma unroll
    for (int i = 0; i < TM; ++i) {
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }
}

// Writes the thread's outputs of the tile at (m0, n0) of a row-major
// [m, n] matrix of `dtype`, skipping those outside it.
template <int TM, int TN>
__device__ __forceinline__ void simt_tile_store(const float (&acc)[TM][TN], void* c, DType dtype, int64_t m, int64_t n, int64_t m0,
                                                int64_t n0, int tx, int ty) {
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t row = m0 + ty * TM + i;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t col = n0 + tx * TN + j;
      if (row < m && col < n) store_from_double(c, dtype, row * n + col, acc[i][j]);
    }
  }
}

}  // namespace moekit
