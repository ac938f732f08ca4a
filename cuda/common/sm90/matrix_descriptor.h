// wgmma shared-memory matrix descriptors (PTX ISA, "Matrix Descriptor Format"
// under Asynchronous Warpgroup Level Matrix Multiply-Accumulate):
//
//   bits  0-13  start address          encode(addr)
//   bits 16-29  leading byte offset    encode(LBO)
//   bits 32-45  stride byte offset     encode(SBO)
//   bits 49-51  matrix base offset     0 when the swizzle pattern starts on its
//                                      natural boundary (1024 bytes for 128B)
//   bits 62-63  swizzle mode           0 none, 1 128B, 2 64B, 3 32B
//   encode(x) = (x & 0x3FFFF) >> 4
//
// The kernels here use one layout: a K-major tile whose rows are exactly one
// 128-byte swizzle row (BLOCK_K = 128 FP8 values), as TMA writes it with
// CU_TENSOR_MAP_SWIZZLE_128B. For K-major swizzled layouts the PTX ISA says
// the LBO is "not used, assumed to be 1" (we store 1), and SBO is "the offset
// from the first 8 rows to the next 8 rows": 8 * 128 = 1024 bytes.
// Checked by tests/native/sm90/wgmma_layout_check.cc.
#pragma once

#include <cstdint>

#include "../../../native/common/hd.h"
#include "swizzle.h"

namespace moekit {
namespace sm90 {

enum class DescriptorSwizzle : uint32_t { None = 0, B128 = 1, B64 = 2, B32 = 3 };

MOEKIT_HD constexpr uint64_t descriptor_encode(uint32_t bytes) { return (bytes & 0x3FFFFu) >> 4; }

// The fields of a descriptor, in bytes where the hardware scales by 16.
struct MatrixDescriptorFields {
  uint32_t start_address;
  uint32_t leading_byte_offset;
  uint32_t stride_byte_offset;
  uint32_t base_offset;
  DescriptorSwizzle swizzle;
};

MOEKIT_HD constexpr uint64_t make_matrix_descriptor(const MatrixDescriptorFields& f) {
  return descriptor_encode(f.start_address) | (descriptor_encode(f.leading_byte_offset) << 16) |
         (descriptor_encode(f.stride_byte_offset) << 32) | (static_cast<uint64_t>(f.base_offset & 0x7u) << 49) |
         (static_cast<uint64_t>(f.swizzle) << 62);
}

// Inverse of make_matrix_descriptor (for the host checks).
MOEKIT_HD constexpr MatrixDescriptorFields decode_matrix_descriptor(uint64_t d) {
  return MatrixDescriptorFields{static_cast<uint32_t>(d & 0x3FFFu) << 4, static_cast<uint32_t>((d >> 16) & 0x3FFFu) << 4,
                                static_cast<uint32_t>((d >> 32) & 0x3FFFu) << 4, static_cast<uint32_t>((d >> 49) & 0x7u),
                                static_cast<DescriptorSwizzle>((d >> 62) & 0x3u)};
}

constexpr uint32_t KMAJOR_SW128_LBO = 16;  // unused by the hardware; encodes as the documented 1
constexpr uint32_t KMAJOR_SW128_SBO = 8 * SWIZZLE_128B_ROW_BYTES;

// Descriptor of a K-major, 128B-swizzled operand starting at shared address
// `smem_address`. The tile's swizzle pattern must start on a 1024-byte
// boundary (base offset 0); `smem_address` itself may sit 32 * j bytes
// further along K inside the first row, which is how the kernels step through
// the four k32 slices of a 128-byte row: the hardware applies the swizzle to
// the full address it computes, so the slice reads the same bytes TMA stored.
MOEKIT_HD constexpr uint64_t kmajor_sw128_descriptor(uint32_t smem_address) {
  return make_matrix_descriptor(
      MatrixDescriptorFields{smem_address, KMAJOR_SW128_LBO, KMAJOR_SW128_SBO, 0, DescriptorSwizzle::B128});
}

// Descriptor of an MN-major ("transposed", imm-trans = 1) 128B-swizzled
// 16-bit operand: atoms of 8 K rows x 64 MN elements (one 128-byte swizzle
// row each, the layout TMA writes for a box of 64 16-bit columns), the
// leading byte offset `mn_atom_bytes` between atoms along MN and the stride
// byte offset `k_atom_bytes` between 8-row groups along K (the PTX ISA's
// canonical MN-major layout ((T, m), (8, k)) : ((1, LBO), (T, SBO))).
// `smem_address` must start an 8-row group on a 1024-byte boundary.
MOEKIT_HD constexpr uint64_t mnmajor_sw128_descriptor(uint32_t smem_address, uint32_t mn_atom_bytes, uint32_t k_atom_bytes) {
  return make_matrix_descriptor(
      MatrixDescriptorFields{smem_address, mn_atom_bytes, k_atom_bytes, 0, DescriptorSwizzle::B128});
}

}  // namespace sm90
}  // namespace moekit
