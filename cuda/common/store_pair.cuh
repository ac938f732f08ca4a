// Epilogue store of the mma kernels: two f32 results for columns col and
// col + 1 of one row of a row-major [m, n] output (the c0/c1 or c2/c3 pair
// of an mma accumulator, mma_layout.h), rounded to nearest even into the
// output dtype. Elements outside [0, m) x [0, n) are not written.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "../../native/common/dtype.h"
#include "gated_tile.h"
#include "mma_layout.h"

namespace moekit {

// `col` must be even. The pair goes out as one 4- or 8-byte store when n is
// even (then row * n + col is even, so the pair is aligned given a buffer
// aligned to 8 bytes), else element by element.
__device__ __forceinline__ void store_pair(void* c, DType c_dtype, int64_t m, int64_t n, int64_t row, int64_t col, float v0, float v1) {
  if (row >= m || col >= n) return;
  const int64_t i = row * n + col;
  const bool both = col + 1 < n;
  const bool aligned_pair = both && n % 2 == 0;
  switch (c_dtype) {
    case DType::BF16: {
      auto* out = static_cast<__nv_bfloat16*>(c);
      if (aligned_pair) {
        *reinterpret_cast<__nv_bfloat162*>(out + i) = __floats2bfloat162_rn(v0, v1);
      } else {
        out[i] = __float2bfloat16_rn(v0);
        if (both) out[i + 1] = __float2bfloat16_rn(v1);
      }
      break;
    }
    case DType::F16: {
      auto* out = static_cast<__half*>(c);
      if (aligned_pair) {
        *reinterpret_cast<__half2*>(out + i) = __floats2half2_rn(v0, v1);
      } else {
        out[i] = __float2half_rn(v0);
        if (both) out[i + 1] = __float2half_rn(v1);
      }
      break;
    }
    default: {  // F32: the binding allows nothing else
      auto* out = static_cast<float*>(c);
      if (aligned_pair) {
        *reinterpret_cast<float2*>(out + i) = make_float2(v0, v1);
      } else {
        out[i] = v0;
        if (both) out[i + 1] = v1;
      }
      break;
    }
  }
}

// Writes a warp's accumulators: M_FRAGS x N_FRAGS m16n8 tiles whose top-left
// corner in C is (row0, col0), each lane's c0/c1 and c2/c3 pairs where
// mma_c_coord puts them, times row_scale[row] when row_scale is not null.
// Shared by the epilogues of gemm v2 and fp8Gemm v2.
template <int M_FRAGS, int N_FRAGS>
__device__ __forceinline__ void store_mma_accumulators(const float (&acc)[M_FRAGS][N_FRAGS][4], void* c, DType c_dtype, int64_t m,
                                                       int64_t n, int64_t row0, int64_t col0, int lane, const float* row_scale) {
#pragma unroll
  for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const RowCol rc = mma_c_coord(lane, 2 * h);
      const int64_t row = row0 + i * MMA_M + rc.row;
      if (row >= m) continue;
      const float s = row_scale ? row_scale[row] : 1.0f;
#pragma unroll
      for (int j = 0; j < N_FRAGS; ++j) {
        const float v0 = acc[i][j][2 * h], v1 = acc[i][j][2 * h + 1];
        store_pair(c, c_dtype, m, n, row, col0 + j * MMA_N + rc.col, row_scale ? v0 * s : v0, row_scale ? v1 * s : v1);
      }
    }
  }
}

// The gated epilogue (gated_tile.h): n8 fragment j even holds gate columns
// and j + 1 the up columns of the same outputs; each lane writes
// silu(gate) * up for its pairs, N_FRAGS / 2 * 8 columns of C from col0.
template <int M_FRAGS, int N_FRAGS>
__device__ __forceinline__ void store_gated_mma_accumulators(const float (&acc)[M_FRAGS][N_FRAGS][4], void* c, DType c_dtype, int64_t m,
                                                             int64_t n, int64_t row0, int64_t col0, int lane, const float* row_scale) {
  static_assert(N_FRAGS % 2 == 0, "gate and up fragments come in pairs");
#pragma unroll
  for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const RowCol rc = mma_c_coord(lane, 2 * h);
      const int64_t row = row0 + i * MMA_M + rc.row;
      if (row >= m) continue;
      const float s = row_scale ? row_scale[row] : 1.0f;
#pragma unroll
      for (int j = 0; j < N_FRAGS; j += 2) {
        const float v0 = silu_times(acc[i][j][2 * h], acc[i][j + 1][2 * h]);
        const float v1 = silu_times(acc[i][j][2 * h + 1], acc[i][j + 1][2 * h + 1]);
        store_pair(c, c_dtype, m, n, row, col0 + (j / 2) * MMA_N + rc.col, row_scale ? v0 * s : v0, row_scale ? v1 * s : v1);
      }
    }
  }
}

}  // namespace moekit
