// The 128-byte shared-memory swizzle that TMA writes (CU_TENSOR_MAP_SWIZZLE_128B)
// and wgmma reads (descriptor swizzle mode 1).
//
// A tile whose rows are 128 bytes is stored row after row, but within each
// row the eight 16-byte chunks are permuted: chunk c of row r lands in chunk
// c ^ (r % 8). Eight rows (1024 bytes) make one repeating pattern, which must
// start on a 1024-byte boundary. On a byte offset from such a boundary this
// is bits [4, 7) ^= bits [7, 10): CuTe's Swizzle<3, 4, 3>, the swizzle the
// PTX ISA gives for K-major 128B layouts (section "Shared Memory Matrix
// Layout", table of canonical layouts), and the chunk permutation cuda.h
// describes for CU_TENSOR_MAP_SWIZZLE_128B ("Swizzle 16B chunks within 128B
// span"). Checked by tests/native/sm90/wgmma_layout_check.cc.
#pragma once

#include <cstdint>

#include "../../../native/common/hd.h"

namespace moekit {
namespace sm90 {

constexpr uint32_t SWIZZLE_128B_ROW_BYTES = 128;      // one row of the pattern
constexpr uint32_t SWIZZLE_128B_CHUNK_BYTES = 16;     // the unit that moves
constexpr uint32_t SWIZZLE_128B_PATTERN_BYTES = 1024; // 8 rows: where it repeats

// Swizzled byte offset of linear byte offset `offset` (from a 1024-byte boundary).
MOEKIT_HD constexpr uint32_t swizzle_128b(uint32_t offset) {
  return offset ^ ((offset >> 3) & 0x70u);
}

}  // namespace sm90
}  // namespace moekit
