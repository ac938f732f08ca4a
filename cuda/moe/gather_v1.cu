// moe.gather on CUDA. See native/ops/moe/gather.h for the math; the CPU twin
// is native/cpu/moe/gather.cc, the tests tests/moe/gather.test.ts, the bench
// bench/moe/gather.bench.ts.
//   v1: a warp per permuted row, grid-stride over the rows. Lane 0's id is
//       read by every lane (one broadcast load) and checked against
//       [0, T * K): out of it, the row is zeros and x is not read. Plain: the
//       lanes copy the row's 2- or 4-byte elements in coalesced steps of 32,
//       bits unchanged. Quantized: each 1x128 block is four such steps held
//       in registers, then quantize v1's warp block (row128_quantize.cuh).
//       Any sm >= 80.
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/grid.h"
#include "../common/launch.cuh"
#include "../common/row128_quantize.cuh"
#include "../common/warp.h"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"
#include "../../native/ops/moe/gather.h"

namespace moekit {

namespace {

constexpr int GATHER_WARPS_PER_BLOCK = 8;

// The token row of permuted row r, or -1 for padding.
__device__ __forceinline__ int64_t gather_source(const GatherParams& p, int64_t r) {
  const int64_t id = p.row_ids[r];
  return id >= 0 && id < p.tokens * p.top_k ? id / p.top_k : -1;
}

// E: the element's bits (uint16_t for bf16 and f16, uint32_t for f32).
template <typename E>
__global__ void __launch_bounds__(GATHER_WARPS_PER_BLOCK * WARP_SIZE) gather_v1_kernel(const GatherParams p) {
  const int lane = threadIdx.x % WARP_SIZE;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * GATHER_WARPS_PER_BLOCK;
  const E* x = static_cast<const E*>(p.x);
  E* out = static_cast<E*>(p.out);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * GATHER_WARPS_PER_BLOCK + threadIdx.x / WARP_SIZE; r < p.rows; r += warps) {
    const int64_t t = gather_source(p, r);
    E* to = out + r * p.hidden;
    if (t < 0) {
      for (int64_t c = lane; c < p.hidden; c += WARP_SIZE) to[c] = E(0);
    } else {
      const E* from = x + t * p.hidden;
      for (int64_t c = lane; c < p.hidden; c += WARP_SIZE) to[c] = from[c];
    }
  }
}

__global__ void __launch_bounds__(GATHER_WARPS_PER_BLOCK * WARP_SIZE) gather_quantize_v1_kernel(const GatherParams p) {
  const int lane = threadIdx.x % WARP_SIZE;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * GATHER_WARPS_PER_BLOCK;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * GATHER_WARPS_PER_BLOCK + threadIdx.x / WARP_SIZE; r < p.rows; r += warps) {
    const int64_t t = gather_source(p, r);
    // A padding row quantizes zeros, without reading x.
    const auto value = [&](int64_t col) { return t >= 0 ? load_as_float(p.x, p.x_dtype, t * p.hidden + col) : 0.0f; };
    quantize_row128(value, p.hidden, p.values + r * p.hidden, p.scales + r * ceil_div(p.hidden, FP8_SCALE_BLOCK), p.format, p.ue8m0, lane);
  }
}

}  // namespace

void gather_v1(const GatherParams& p, cudaStream_t stream) {
  if (p.rows == 0 || p.hidden == 0) return;
  const unsigned grid = grid_stride_blocks(p.rows, GATHER_WARPS_PER_BLOCK);
  constexpr int threads = GATHER_WARPS_PER_BLOCK * WARP_SIZE;
  if (p.quantize) {
    launch_kernel("gather_quantize_v1_kernel", gather_quantize_v1_kernel, grid, threads, 0, stream, p);
  } else if (dtype_size(p.x_dtype) == 4) {
    launch_kernel("gather_v1_kernel", gather_v1_kernel<uint32_t>, grid, threads, 0, stream, p);
  } else {
    launch_kernel("gather_v1_kernel", gather_v1_kernel<uint16_t>, grid, threads, 0, stream, p);
  }
}

}  // namespace moekit
