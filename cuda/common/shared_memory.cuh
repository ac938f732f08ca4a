// The block's dynamic shared memory (the bytes the launch asked for), the
// one place kernels get it from. nvcc: the usual extern __shared__ array,
// 128-byte aligned (a kernel that needs more aligns up itself, as the TMA
// kernels do for the 1024-byte swizzle pattern). The emulation build hands
// out the emulated block's own buffer instead: an extern declaration cannot
// name per-block storage in host C++.
#pragma once

#include <cstdint>

namespace moekit {

__device__ __forceinline__ uint8_t* dynamic_shared_memory() {
#if defined(MOEKIT_EMULATION)
  return static_cast<uint8_t*>(::moekit::emu::device::dynamic_shared_memory());
#else
  extern __shared__ __align__(128) uint8_t moekit_dynamic_smem[];
  return moekit_dynamic_smem;
#endif
}

}  // namespace moekit
