// fp8_scale_layout on CUDA. See fp8_scale_layout.h.
//   v1: one grid-stride loop over both outputs (a few thousand floats); any sm.
#include <cuda_runtime.h>

#include <algorithm>

#include "../common/check.h"
#include "../common/launch.cuh"
#include "../../native/common/math.h"
#include "../../native/ops/baselines/fp8_scale_layout.h"

namespace moekit {

namespace {

constexpr int SCALE_LAYOUT_THREADS = 256;
constexpr int64_t SCALE_LAYOUT_MAX_BLOCKS = 4096;

// Output index i covers a_scales_lt first, then b_scales_lt; each thread
// writes consecutive outputs, so the stores coalesce (the gathers cannot).
__global__ void fp8_scale_layout_v1_kernel(const Fp8ScaleLayoutParams p) {
  const int64_t a_count = p.k_blocks * p.m;
  const int64_t total = a_count + p.n_blocks * p.k_blocks_padded;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    if (i < a_count) {
      const int64_t kb = i / p.m;
      const int64_t row = i - kb * p.m;
      p.a_scales_lt[i] = p.a_scales[row * p.k_blocks + kb];
    } else {
      const int64_t j = i - a_count;
      const int64_t nb = j / p.k_blocks_padded;
      const int64_t kb = j - nb * p.k_blocks_padded;
      p.b_scales_lt[j] = kb < p.k_blocks ? p.b_scales[nb * p.k_blocks + kb] : 0.0f;
    }
  }
}

}  // namespace

void fp8_scale_layout_v1(const Fp8ScaleLayoutParams& p, void* stream) {
  const int64_t total = p.k_blocks * p.m + p.n_blocks * p.k_blocks_padded;
  if (total == 0) return;
  const int64_t blocks = std::min<int64_t>(ceil_div<int64_t>(total, SCALE_LAYOUT_THREADS), SCALE_LAYOUT_MAX_BLOCKS);
  launch_kernel("fp8_scale_layout_v1_kernel", fp8_scale_layout_v1_kernel, static_cast<unsigned>(blocks), SCALE_LAYOUT_THREADS, 0, static_cast<cudaStream_t>(stream), p);
}

}  // namespace moekit
