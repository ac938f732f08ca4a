// Where static __shared__ variables live. compat.h makes them static
// thread_local, and the kernels are linked into a module of their own
// (libmoekit_kernels.so) whose TLS block holds nothing else: on the OS
// thread running a block, that block's static shared memory is exactly the
// kernels module's TLS block for that thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace moekit {
namespace emu {

struct KernelTlsRange {
  uint8_t* base = nullptr;
  size_t bytes = 0;
};

// The calling thread's instance (allocated on first call).
KernelTlsRange kernel_static_shared();

}  // namespace emu
}  // namespace moekit

// Defined in the kernels module (kernel_module_anchor.cc): touches its TLS
// block so it exists on this thread, and returns an address inside it.
extern "C" void* moekit_emu_kernel_tls_anchor();
