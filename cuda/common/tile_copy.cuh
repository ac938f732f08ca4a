// One pipeline stage of an operand tile, global -> shared, with cp.async:
// the copy assignment and swizzled placement of swizzle.h, zero fill past
// the matrix edges.
#pragma once

#include <cstdint>

#include "mma.cuh"
#include "mma_layout.h"
#include "swizzle.h"

namespace moekit {

// Issues this thread's COPIES cp.async copies of rows [row0, row0 +
// COPIES * NUM_THREADS / CHUNKS_PER_ROW) and columns [k0, k0 +
// CHUNKS_PER_ROW * 16 / ELEM_BYTES) of the row-major [rows, k] matrix
// `src` (ELEM_BYTES per element) into the swizzled tile at shared address
// `tile`. The caller guarantees k * ELEM_BYTES % 16 == 0 and a 16-byte
// aligned `src`, so every chunk is an aligned 16 bytes wholly inside the
// matrix or wholly outside it; those outside are zero-filled, reading nothing.
template <int NUM_THREADS, int CHUNKS_PER_ROW, int ELEM_BYTES, int COPIES>
__device__ __forceinline__ void copy_tile_async(uint32_t tile, const uint8_t* src, int64_t rows, int64_t k, int64_t row0, int64_t k0) {
  constexpr int CHUNK_ELEMS = SMEM_CHUNK_BYTES / ELEM_BYTES;
#pragma unroll
  for (int i = 0; i < COPIES; ++i) {
    const RowCol c = copy_chunk(static_cast<int>(threadIdx.x), i, NUM_THREADS, CHUNKS_PER_ROW);
    const int64_t element = chunk_source(row0, k0, c, CHUNK_ELEMS, rows, k);
    const uint8_t* from = element >= 0 ? src + element * ELEM_BYTES : src;
    cp_async_16(tile + static_cast<uint32_t>(swizzled_offset(c.row, c.col, CHUNKS_PER_ROW)), from, element >= 0);
  }
}

// As copy_tile_async, with the source row of each tile row r given by
// row_of(r) (-1: zero-filled): the B tile of a gated GEMM, whose rows
// alternate between the gate and the up block (gated_tile.h).
template <int NUM_THREADS, int CHUNKS_PER_ROW, int ELEM_BYTES, int COPIES, typename RowOf>
__device__ __forceinline__ void copy_rows_async(uint32_t tile, const uint8_t* src, int64_t k, int64_t k0, RowOf row_of) {
  constexpr int CHUNK_ELEMS = SMEM_CHUNK_BYTES / ELEM_BYTES;
#pragma unroll
  for (int i = 0; i < COPIES; ++i) {
    const RowCol c = copy_chunk(static_cast<int>(threadIdx.x), i, NUM_THREADS, CHUNKS_PER_ROW);
    const int64_t row = row_of(c.row);
    const int64_t col = k0 + static_cast<int64_t>(c.col) * CHUNK_ELEMS;
    const bool inside = row >= 0 && col < k;
    const uint8_t* from = inside ? src + (row * k + col) * ELEM_BYTES : src;
    cp_async_16(tile + static_cast<uint32_t>(swizzled_offset(c.row, c.col, CHUNKS_PER_ROW)), from, inside);
  }
}

}  // namespace moekit
