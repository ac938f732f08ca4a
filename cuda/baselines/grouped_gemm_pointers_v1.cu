// grouped_gemm_pointers on CUDA. See grouped_gemm_pointers.h.
//   v1: one block copies the values of its parameters; any sm.
#include <cuda_runtime.h>

#include "../common/check.h"
#include "../common/launch.cuh"
#include "../../native/ops/baselines/grouped_gemm_pointers.h"

namespace moekit {

namespace {

constexpr int POINTER_THREADS = 512;
static_assert(POINTER_THREADS >= GROUPED_POINTERS_PER_LAUNCH, "one thread per value");

__global__ void grouped_gemm_pointers_v1_kernel(const GroupedGemmPointersParams p) {
  const int64_t i = threadIdx.x;
  if (i < p.count) p.dst[i] = p.values[i];
}

}  // namespace

void grouped_gemm_pointers_v1(const GroupedGemmPointersParams& p, void* stream) {
  if (p.count <= 0) return;
  launch_kernel("grouped_gemm_pointers_v1_kernel", grouped_gemm_pointers_v1_kernel, 1u, POINTER_THREADS, 0,
                static_cast<cudaStream_t>(stream), p);
}

}  // namespace moekit
