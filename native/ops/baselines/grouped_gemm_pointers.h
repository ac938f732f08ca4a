// grouped_gemm_pointers: writes the device arrays of matrix pointers that
// cublasGemmGroupedBatchedEx reads (A, B and C of every problem) from
// values the host computed, carried in the kernel's parameters: no host
// buffer has to outlive the call and no stream synchronization is needed,
// so the grouped baseline stays asynchronous like every op. It is part of
// what a user of cuBLAS's grouped GEMM runs, and of what benchmarks time.
//   kernel:   cuda/baselines/grouped_gemm_pointers_v1.cu
//   CPU twin: none (the baselines run on CUDA devices only)
//   tests:    tests/baselines/grouped.test.ts (on a GPU with cuBLAS)
#pragma once

#include <cstdint>

namespace moekit {

// Values one launch carries: the parameters stay under CUDA's 4 KiB.
constexpr int64_t GROUPED_POINTERS_PER_LAUNCH = 480;

struct GroupedGemmPointersParams {
  uint64_t* dst;  // [count] device, the pointer array being written
  int64_t count;  // at most GROUPED_POINTERS_PER_LAUNCH
  uint64_t values[GROUPED_POINTERS_PER_LAUNCH];
};

static_assert(sizeof(GroupedGemmPointersParams) <= 4000, "kernel parameters are limited to 4 KiB");

void grouped_gemm_pointers_v1(const GroupedGemmPointersParams& p, void* stream);  // stream: cudaStream_t

}  // namespace moekit
