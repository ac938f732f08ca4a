// cast on CUDA. See cast.h.
//   v1: grid-stride loop over elements through the shared double path; any sm.
#include <cuda_runtime.h>

#include "../common/check.h"
#include "../common/launch.cuh"
#include "../common/grid.h"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"
#include "../../native/ops/runtime/cast.h"

namespace moekit {

namespace {

constexpr int CAST_THREADS = 256;

__global__ void cast_v1_kernel(const CastParams p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride) {
    store_from_double(p.dst, p.dst_dtype, i, load_as_double(p.src, p.src_dtype, i));
  }
}

}  // namespace

void cast_v1(const CastParams& p, cudaStream_t stream) {
  if (p.n == 0) return;
  launch_kernel("cast_v1_kernel", cast_v1_kernel, grid_stride_blocks(p.n, CAST_THREADS), CAST_THREADS, 0, stream, p);
}

}  // namespace moekit
