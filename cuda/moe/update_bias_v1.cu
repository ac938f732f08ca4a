// moe.updateBias on CUDA. See native/ops/moe/update_bias.h for the math;
// the CPU twin is native/cpu/moe/update_bias.cc, the tests
// tests/moe/update_bias.test.ts.
//   v1: one block: each thread sums its strided counts in int64, a warp
//       butterfly and one value per warp through shared memory give every
//       thread the total, then each thread updates its strided biases.
//       E is small (256 in DeepSeek-V3), so one block is enough. Any sm >= 80.
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/check.h"
#include "../common/launch.cuh"
#include "../common/warp.h"
#include "../../native/ops/moe/update_bias.h"

namespace moekit {

namespace {

constexpr int UPDATE_BIAS_THREADS = 256;
constexpr int UPDATE_BIAS_WARPS = UPDATE_BIAS_THREADS / WARP_SIZE;

__global__ void __launch_bounds__(UPDATE_BIAS_THREADS) update_bias_v1_kernel(const UpdateBiasParams p) {
  __shared__ long long warp_total[UPDATE_BIAS_WARPS];
  long long total = 0;
  for (int64_t i = threadIdx.x; i < p.experts; i += UPDATE_BIAS_THREADS) total += p.counts[i];
#pragma unroll
  for (int offset = WARP_SIZE / 2; offset > 0; offset /= 2) total += __shfl_xor_sync(FULL_WARP_MASK, total, offset);
  if (threadIdx.x % WARP_SIZE == 0) warp_total[threadIdx.x / WARP_SIZE] = total;
  __syncthreads();
  total = 0;
#pragma unroll
  for (int w = 0; w < UPDATE_BIAS_WARPS; ++w) total += warp_total[w];
  for (int64_t i = threadIdx.x; i < p.experts; i += UPDATE_BIAS_THREADS) {
    // sign(mean - c_i) = sign(total - E * c_i), exactly.
    const long long diff = total - p.experts * static_cast<long long>(p.counts[i]);
    const float sign = diff > 0 ? 1.0f : diff < 0 ? -1.0f : 0.0f;
    p.out[i] = p.bias[i] + p.rate * sign;
  }
}

}  // namespace

void update_bias_v1(const UpdateBiasParams& p, cudaStream_t stream) {
  if (p.experts == 0) return;
  launch_kernel("update_bias_v1_kernel", update_bias_v1_kernel, 1, UPDATE_BIAS_THREADS, 0, stream, p);
}

}  // namespace moekit
