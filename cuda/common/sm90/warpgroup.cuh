// Warpgroup register reallocation (PTX ISA, "setmaxnreg"; sm_90a). A
// warp-specialised kernel launched with __launch_bounds__(threads, 1) starts
// every warp at the same register budget; the producer warpgroup, which only
// issues TMA, gives registers back and the math warpgroups take them. All
// threads of a warpgroup must execute the same setmaxnreg (.sync.aligned),
// the count is a multiple of 8 in [24, 256], and each role must be one branch
// of a single if/else on the warpgroup index, or ptxas ignores it (C7508).
#pragma once

#include <cstdint>

namespace moekit {
namespace sm90 {

template <uint32_t REGISTERS>
__device__ __forceinline__ void warpgroup_shrink_registers() {
  static_assert(REGISTERS % 8 == 0 && REGISTERS >= 24 && REGISTERS <= 256, "setmaxnreg takes a multiple of 8 in [24, 256]");
#if defined(MOEKIT_EMULATION)
  emu::device::setmaxnreg(false, REGISTERS, "setmaxnreg.dec");
#else
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(REGISTERS));
#endif
}

template <uint32_t REGISTERS>
__device__ __forceinline__ void warpgroup_grow_registers() {
  static_assert(REGISTERS % 8 == 0 && REGISTERS >= 24 && REGISTERS <= 256, "setmaxnreg takes a multiple of 8 in [24, 256]");
#if defined(MOEKIT_EMULATION)
  emu::device::setmaxnreg(true, REGISTERS, "setmaxnreg.inc");
#else
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(REGISTERS));
#endif
}

// bar.sync id, count: `count` threads (a multiple of 32, whole warps) meet
// at barrier `id` (1..15; 0 is __syncthreads'), e.g. one warpgroup or the
// math warpgroups of a warp-specialised kernel without the producer.
__device__ __forceinline__ void named_barrier_sync(uint32_t id, uint32_t count) {
#if defined(MOEKIT_EMULATION)
  emu::device::barrier_sync(id, count, "bar.sync");
#else
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(count) : "memory");
#endif
}

// Orders this thread's earlier generic-proxy shared-memory stores before
// later async-proxy accesses (wgmma operand reads, TMA) once a barrier has
// passed them on. The emulation does not track proxies (docs/emulation.md).
__device__ __forceinline__ void fence_proxy_async_shared() {
#if !defined(MOEKIT_EMULATION)
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
#endif
}

}  // namespace sm90
}  // namespace moekit
