// moe.swiglu on CUDA. See native/ops/moe/swiglu.h for the math; the CPU twin
// is native/cpu/moe/swiglu.cc, the tests tests/moe/swiglu.test.ts, the bench
// bench/moe/swiglu.bench.ts.
//   v1: a warp per row, grid-stride over the rows; lanes walk the row's I
//       columns in coalesced steps of 32, each loading its gate and up
//       element and computing g / (1 + expf(-g)) * u in f32 (expf, not the
//       approximate __expf, so the result is within CUDA's documented 2 ulp
//       of the CPU twin's). Plain: stored rounded to the output dtype.
//       Quantized: each 1x128 block is four steps held in registers, then
//       quantize v1's warp block (row128_quantize.cuh). Any sm >= 80.
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/grid.h"
#include "../common/launch.cuh"
#include "../common/row128_quantize.cuh"
#include "../common/store_float.cuh"
#include "../common/warp.h"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"
#include "../../native/ops/moe/swiglu.h"

namespace moekit {

namespace {

constexpr int SWIGLU_WARPS_PER_BLOCK = 8;

// The activation of row r, column j (j < I), in f32: the expression of the CPU twin.
__device__ __forceinline__ float swiglu_at(const SwigluParams& p, int64_t r, int64_t j) {
  const float g = load_as_float(p.h, p.h_dtype, r * 2 * p.inter + j);
  const float u = load_as_float(p.h, p.h_dtype, r * 2 * p.inter + p.inter + j);
  const float silu = g / (1.0f + expf(-g));
  return silu * u;
}

__global__ void __launch_bounds__(SWIGLU_WARPS_PER_BLOCK * WARP_SIZE) swiglu_v1_kernel(const SwigluParams p) {
  const int lane = threadIdx.x % WARP_SIZE;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * SWIGLU_WARPS_PER_BLOCK;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * SWIGLU_WARPS_PER_BLOCK + threadIdx.x / WARP_SIZE; r < p.rows; r += warps) {
    for (int64_t j = lane; j < p.inter; j += WARP_SIZE) store_float(p.out, p.out_dtype, r * p.inter + j, swiglu_at(p, r, j));
  }
}

__global__ void __launch_bounds__(SWIGLU_WARPS_PER_BLOCK * WARP_SIZE) swiglu_quantize_v1_kernel(const SwigluParams p) {
  const int lane = threadIdx.x % WARP_SIZE;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * SWIGLU_WARPS_PER_BLOCK;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * SWIGLU_WARPS_PER_BLOCK + threadIdx.x / WARP_SIZE; r < p.rows; r += warps) {
    const auto value = [&](int64_t col) { return swiglu_at(p, r, col); };
    quantize_row128(value, p.inter, p.values + r * p.inter, p.scales + r * ceil_div(p.inter, FP8_SCALE_BLOCK), p.format, p.ue8m0, lane);
  }
}

}  // namespace

void swiglu_v1(const SwigluParams& p, cudaStream_t stream) {
  if (p.rows == 0 || p.inter == 0) return;
  const unsigned grid = grid_stride_blocks(p.rows, SWIGLU_WARPS_PER_BLOCK);
  constexpr int threads = SWIGLU_WARPS_PER_BLOCK * WARP_SIZE;
  if (p.quantize) {
    launch_kernel("swiglu_quantize_v1_kernel", swiglu_quantize_v1_kernel, grid, threads, 0, stream, p);
  } else {
    launch_kernel("swiglu_v1_kernel", swiglu_v1_kernel, grid, threads, 0, stream, p);
  }
}

}  // namespace moekit
