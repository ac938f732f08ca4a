// moe.combine on CUDA. See native/ops/moe/combine.h for the math; the CPU
// twin is native/cpu/moe/combine.cc, the tests tests/moe/combine.test.ts, the
// bench bench/moe/combine.bench.ts.
//   v1: a warp per token, grid-stride over the tokens. Each lane owns the
//       columns lane, lane + 32, ... of the token's output row; for each it
//       starts from the shared row (or 0) and adds the K picks in k order,
//       one fmaf(w, y, acc) each (explicit, so the compiler's contraction
//       cannot change the rounding), skipping rows outside [0, P). The
//       pick's row and weight are the same for every lane (broadcast loads);
//       the y rows are read coalesced. No atomics: each output element has
//       one writer and one order, the CPU twin's. Any sm >= 80.
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/grid.h"
#include "../common/launch.cuh"
#include "../common/store_float.cuh"
#include "../common/warp.h"
#include "../../native/common/float_convert.h"
#include "../../native/ops/moe/combine.h"

namespace moekit {

namespace {

constexpr int COMBINE_WARPS_PER_BLOCK = 8;

__global__ void __launch_bounds__(COMBINE_WARPS_PER_BLOCK * WARP_SIZE) combine_v1_kernel(const CombineParams p) {
  const int lane = threadIdx.x % WARP_SIZE;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * COMBINE_WARPS_PER_BLOCK;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * COMBINE_WARPS_PER_BLOCK + threadIdx.x / WARP_SIZE; t < p.tokens; t += warps) {
    for (int64_t c = lane; c < p.hidden; c += WARP_SIZE) {
      float acc = p.shared ? load_as_float(p.shared, p.shared_dtype, t * p.hidden + c) : 0.0f;
      for (int64_t k = 0; k < p.top_k; ++k) {
        const int64_t r = p.inverse[t * p.top_k + k];
        if (r < 0 || r >= p.rows) continue;
        const float w = p.weights ? p.weights[t * p.top_k + k] : 1.0f;
        acc = fmaf(w, load_as_float(p.y, p.y_dtype, r * p.hidden + c), acc);
      }
      store_float(p.out, p.out_dtype, t * p.hidden + c, acc);
    }
  }
}

}  // namespace

void combine_v1(const CombineParams& p, cudaStream_t stream) {
  if (p.tokens == 0 || p.hidden == 0) return;
  launch_kernel("combine_v1_kernel", combine_v1_kernel, grid_stride_blocks(p.tokens, COMBINE_WARPS_PER_BLOCK), COMBINE_WARPS_PER_BLOCK * WARP_SIZE, 0,
                stream, p);
}

}  // namespace moekit
