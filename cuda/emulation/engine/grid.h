// Running a kernel's grid on the emulated GPU (the stream worker's side of a
// launch). The runtime validates a launch and queues it on its stream; when
// the stream reaches it, its worker thread calls run_grid, which runs every
// block in turn, each block's threads as fibers on that one OS thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace moekit {
namespace emu {

struct Dim3 {
  uint32_t x = 1, y = 1, z = 1;
  uint64_t count() const { return uint64_t{x} * y * z; }
};

struct GridLaunch {
  std::string kernel;          // name in reports: "gemm_v2_kernel"
  Dim3 grid, block;
  size_t dynamic_smem = 0;     // bytes of dynamic shared memory per block
  int device = 0;
  // One thread's kernel body: calls the kernel function with the launch's
  // (copied) arguments. Runs once per CUDA thread, inside its fiber.
  std::function<void()> body;
};

// What ended a failed grid: a cudaError_t value (cudaErrorIllegalAddress for
// an out-of-bounds access, cudaErrorMisalignedAddress, cudaErrorLaunchFailure
// for a trap, a race or a misused instruction, cudaErrorLaunchTimeout for a
// deadlock) and the report naming kernel, block, thread and address or
// barrier.
struct KernelFault {
  int code = 0;
  std::string report;
};

// Runs the grid on the calling thread. Grids from all streams and devices
// run one at a time (a process-wide lock), which keeps scheduling
// deterministic and lets static __shared__ variables be plain statics.
// Returns false and fills *fault when a check failed; the launch's remaining
// blocks are not run.
bool run_grid(const GridLaunch& launch, KernelFault* fault);

}  // namespace emu
}  // namespace moekit
