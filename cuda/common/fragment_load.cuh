// A warp's mma fragments for one k-step, loaded with ldmatrix.x4 from a
// swizzled shared-memory tile (swizzle.h). A k-step is 32 bytes of K: 16
// bf16/f16 elements (m16n8k16) or 32 FP8 codes (m16n8k32); in both cases the
// registers come out in the order the mma instruction takes them
// (mma_layout.h: ldmatrix_a_source, ldmatrix_b_source).
#pragma once

#include <cstdint>

#include "mma.cuh"
#include "mma_layout.h"
#include "swizzle.h"

namespace moekit {

// A fragments of M_FRAGS consecutive 16-row tiles starting at tile row
// `row0`, for k-step `ks` of a tile with CHUNKS_PER_ROW chunks per row.
template <int M_FRAGS, int CHUNKS_PER_ROW>
__device__ __forceinline__ void load_a_fragments(uint32_t (&frag)[M_FRAGS][4], uint32_t tile, int row0, int ks, int lane) {
#pragma unroll
  for (int i = 0; i < M_FRAGS; ++i) {
    ldmatrix_x4(frag[i], tile + static_cast<uint32_t>(ldmatrix_a_offset(lane, row0 + i * MMA_M, ks, CHUNKS_PER_ROW)));
  }
}

// B fragments of N_FRAGS consecutive 8-row tiles (rows of the [N, K] B)
// starting at tile row `row0`, two tiles per ldmatrix.x4.
template <int N_FRAGS, int CHUNKS_PER_ROW>
__device__ __forceinline__ void load_b_fragments(uint32_t (&frag)[N_FRAGS][2], uint32_t tile, int row0, int ks, int lane) {
  static_assert(N_FRAGS % 2 == 0, "two n8 tiles per ldmatrix.x4");
#pragma unroll
  for (int j = 0; j < N_FRAGS; j += 2) {
    uint32_t r[4];
    ldmatrix_x4(r, tile + static_cast<uint32_t>(ldmatrix_b_offset(lane, row0 + j * MMA_N, ks, CHUNKS_PER_ROW)));
    frag[j][0] = r[0];
    frag[j][1] = r[1];
    frag[j + 1][0] = r[2];
    frag[j + 1][1] = r[3];
  }
}

}  // namespace moekit
