// The 1x128 block quantization of the DeepSeek-V3 recipe on a warp (see
// native/ops/fp8/quantize.h and the shared scale math of
// native/ops/fp8/scale_math.h): the one device implementation behind
// quantize v1's 1x128 blocks and the kernels that quantize rows they have
// just computed (moe.gather, moe.swiglu), so that all of them give the bits
// of quantize's CPU twin.
#pragma once

#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../../native/common/dtype.h"
#include "../../native/common/fp8_block.h"
#include "../../native/common/math.h"
#include "../../native/ops/fp8/scale_math.h"
#include "reduce.cuh"
#include "warp.h"

namespace moekit {

// Elements of one 1x128 block per lane: 4 coalesced steps of 32.
constexpr int ROW128_ELEMS_PER_LANE = FP8_SCALE_BLOCK / WARP_SIZE;

static_assert(FP8_SCALE_BLOCK % WARP_SIZE == 0, "a 1x128 block must split evenly over a warp");

// f32 to FP8, round to nearest even, saturating (every NaN as the canonical one).
__device__ __forceinline__ uint8_t encode_fp8(float v, DType format) {
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(canonical_nan(v), __NV_SATFINITE, format == DType::E4M3 ? __NV_E4M3 : __NV_E5M2));
}

// Quantizes one 1x128 block of a row on a warp: lane `lane` holds v[j], the
// element at column col0 + j * 32 + lane (0 past the row's end, which cannot
// raise amax), for j < ROW128_ELEMS_PER_LANE. Writes the codes of the
// columns below `cols` to values_row[col] and the block's scale to *scale
// (lane 0). All 32 lanes must call it together.
__device__ __forceinline__ void quantize_row128_block(const float (&v)[ROW128_ELEMS_PER_LANE], int64_t col0, int64_t cols,
                                                      uint8_t* values_row, float* scale, DType format, bool ue8m0, int lane) {
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < ROW128_ELEMS_PER_LANE; ++j) amax = fmaxf(amax, fabsf(v[j]));
  const float s = fp8_block_scale(warp_max(amax), format, ue8m0);
  const float inv = fp8_inverse_scale(s);
  if (lane == 0) *scale = s;
#pragma unroll
  for (int j = 0; j < ROW128_ELEMS_PER_LANE; ++j) {
    const int64_t col = col0 + j * WARP_SIZE + lane;
    if (col < cols) values_row[col] = encode_fp8(v[j] * inv, format);
  }
}

// Quantizes a whole row of `cols` columns on a warp, block after block:
// value(col) gives the f32 element at column col (asked only for
// col < cols), so the kernels that compute a row (moe.gather, moe.swiglu)
// quantize it without first storing it. Writes values_row[0, cols) and
// scales_row[0, ceil(cols / 128)). All 32 lanes must call it together.
template <typename Value>
__device__ __forceinline__ void quantize_row128(const Value& value, int64_t cols, uint8_t* values_row, float* scales_row,
                                                DType format, bool ue8m0, int lane) {
  const int64_t kblocks = ceil_div(cols, FP8_SCALE_BLOCK);
  for (int64_t kb = 0; kb < kblocks; ++kb) {
    const int64_t col0 = kb * FP8_SCALE_BLOCK;
    float v[ROW128_ELEMS_PER_LANE];
#pragma unroll
    for (int j = 0; j < ROW128_ELEMS_PER_LANE; ++j) {
      const int64_t col = col0 + j * WARP_SIZE + lane;
      v[j] = col < cols ? value(col) : 0.0f;
    }
    quantize_row128_block(v, col0, cols, values_row, scales_row + kb, format, ue8m0, lane);
  }
}

}  // namespace moekit
