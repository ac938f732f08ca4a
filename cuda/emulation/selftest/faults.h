// Kernels with exactly one planted bug each (and two correct twins), so
// that the emulated GPU's checks (docs/emulation.md, "Checks") are
// themselves tested: tests/emulation/checks.test.ts runs each through the
// emulationSelfTest hook (native/ops/runtime/emulation_selftest.cc) and
// checks the error and the report it produces.
//
// Emulation build only: cuda/emulation/ is left out of the nvcc build
// (CMakeLists.txt), so none of this reaches a real GPU or a package.
#pragma once

#include <cuda_runtime_api.h>

#include <string>
#include <vector>

namespace moekit {
namespace selftest {

// The device buffer every kernel works on: this many floats, from cudaMalloc
// (so an access one past its end lands in the allocator's gap).
constexpr int FAULT_BUFFER_FLOATS = 64;

// The names launch_fault takes; reports call each kernel "fault_" + its name.
std::vector<std::string> fault_names();

// Launches the kernel `name` on `stream` over `buffer` (FAULT_BUFFER_FLOATS
// floats of device memory). Returns false when there is no such kernel; a
// launch the runtime refuses throws, as launch_kernel does.
bool launch_fault(const std::string& name, float* buffer, cudaStream_t stream);

}  // namespace selftest
}  // namespace moekit
