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

}  // namespace sm90
}  // namespace moekit
