// The shared-memory swizzle modes of TMA and wgmma (PTX ISA 5.5.7; CUTLASS
// names them Swizzle<B,4,3>), applied to the absolute shared byte address:
//   128B  bits 4-6 ^= bits 7-9  (B = 3, repeats every 1024 bytes)
//    64B  bits 4-5 ^= bits 7-8  (B = 2, every 512)
//    32B  bit 4    ^= bit 7     (B = 1, every 256)
// i.e. a ^ ((a & (((1 << B) - 1) << 7)) >> 3): 16-byte chunk c of 128-byte
// line L moves to chunk c ^ (L % 2^B), and the bytes inside a chunk stay.
#include "ptx.h"

namespace moekit {
namespace emu {
namespace ptx {

uint32_t swizzle(uint32_t address, int span_bytes) {
  int b;
  switch (span_bytes) {
    case 128: b = 3; break;
    case 64: b = 2; break;
    case 32: b = 1; break;
    default: return address;  // 0 (none); the callers validate spans before this point
  }
  const uint32_t mask = ((1u << b) - 1u) << 7;
  return address ^ ((address & mask) >> 3);
}

}  // namespace ptx
}  // namespace emu
}  // namespace moekit
