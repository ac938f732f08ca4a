// Kernel launches on the emulated GPU: what cuda/common/launch.cuh calls in
// the emulation build instead of <<<...>>>.
#pragma once

#include <cuda_runtime_api.h>

#include "../engine/grid.h"

namespace moekit {
namespace emu {

// Checks a launch as the CUDA runtime does (grid and block dimensions,
// threads per block, dynamic shared memory against the kernel's
// cudaFuncAttributeMaxDynamicSharedMemorySize and the profile's limits, the
// stream, a sticky error on the device) and queues it on `stream`, whose
// worker runs it with run_grid. `kernel_function` identifies the kernel for
// cudaFuncSetAttribute. Returns the error the launch sets as the thread's
// last error (cudaGetLastError), cudaSuccess when queued.
cudaError_t launch_grid(const void* kernel_function, GridLaunch launch, cudaStream_t stream);

}  // namespace emu
}  // namespace moekit
