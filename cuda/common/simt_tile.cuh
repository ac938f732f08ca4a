// The register micro-tile of the simple SIMT GEMM kernels (gemm v1,
// fp8Gemm v1): each thread owns THREAD_M x THREAD_N outputs of a block tile
// staged k-major in shared memory, and writes them out bounds-checked.
#pragma once

#include <cstdint>

#include "../../native/common/dtype.h"
#include "../../native/common/float_convert.h"

namespace moekit {

// Shared tiles are stored k-major with rows padded by one float: the loads
// write tile[kk][r] with kk varying fastest across a warp, and an unpadded
// row of 64 floats would put those writes in one bank.
constexpr int SIMT_TILE_PAD = 1;

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
