// mma.sync m16n8k16 operand fragments read from row-major bf16 tiles in
// shared memory with plain 32-bit loads (two neighbouring elements of a row
// per register), for the MLA kernels whose tiles are padded rather than
// swizzled (no ldmatrix). Which element a register holds is mma_layout.h's;
// the padding keeps rows 4-byte aligned (even strides).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../../native/common/float_convert.h"
#include "../common/mma_layout.h"

namespace moekit {

__device__ __forceinline__ uint32_t shared_pair(const uint16_t* tile, int stride, int row, int col) {
  return *reinterpret_cast<const uint32_t*>(tile + row * stride + col);
}

// A fragment of the m16 x k16 block at (row0, k0) of a [rows][stride] tile.
__device__ __forceinline__ void load_a_fragment(uint32_t (&a)[4], const uint16_t* tile, int stride, int row0, int k0, int lane) {
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const RowCol rc = mma_a_coord_k16(lane, 2 * r);
    a[r] = shared_pair(tile, stride, row0 + rc.row, k0 + rc.col);
  }
}

// B fragment of the n8 x k16 block at (n0, k0) of an [n][stride] tile (B stored N rows of K, "NT").
__device__ __forceinline__ void load_b_fragment(uint32_t (&b)[2], const uint16_t* tile, int stride, int n0, int k0, int lane) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const RowCol rc = mma_b_coord_k16(lane, 2 * r);
    b[r] = shared_pair(tile, stride, n0 + rc.row, k0 + rc.col);
  }
}

// Two floats as the bf16 pair of one 32-bit register (lo in the low half), rounded to nearest even.
__device__ __forceinline__ uint32_t pack_bf16_pair(float lo, float hi) {
  return static_cast<uint32_t>(bf16_from_float(lo)) | (static_cast<uint32_t>(bf16_from_float(hi)) << 16);
}

}  // namespace moekit
