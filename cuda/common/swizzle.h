// Shared-memory placement of an operand tile for ldmatrix, and which thread
// copies which piece of it. __host__ __device__ so that
// tests/native/mma_layout_check.cc checks them on the CPU.
//
// A tile is `rows` rows of `chunks_per_row` 16-byte chunks (one cp.async
// each, one ldmatrix row each). Stored plainly, chunk (r, c) would sit at
// chunk index r * chunks_per_row + c, and the 8 rows one ldmatrix matrix
// reads (same c, 8 consecutive r) would fall on the same few of the eight
// 16-byte bank groups of a 128-byte line (shared memory has 32 banks of 4
// bytes): up to 8-way conflicts. The swizzle XORs a chunk's position inside
// its 128-byte line (low 3 bits of the chunk index) with the line's index
// mod 8, which spreads those 8 rows over 8 distinct bank groups for 2, 4 or
// 8 chunks per row, keeps every chunk inside its own line (so the tile stays
// within its bytes) and is its own inverse.
#pragma once

#include <cstdint>

#include "../../native/common/hd.h"
#include "mma_layout.h"

namespace moekit {

constexpr int SMEM_CHUNK_BYTES = 16;  // one cp.async.cg copy, one ldmatrix row
constexpr int SMEM_LINE_CHUNKS = 8;   // 128 bytes = all 32 banks

// Physical chunk index of logical chunk index `chunk`.
MOEKIT_HD constexpr int swizzle_chunk(int chunk) { return chunk ^ ((chunk >> 3) & 7); }

// Byte offset, from the start of the tile, of chunk `c` of row `row`.
MOEKIT_HD constexpr int swizzled_offset(int row, int c, int chunks_per_row) {
  return swizzle_chunk(row * chunks_per_row + c) * SMEM_CHUNK_BYTES;
}

// The bank group (0..7) a byte offset falls in: ldmatrix reads 16 bytes per
// row, so 8 rows are conflict-free exactly when their bank groups differ.
MOEKIT_HD constexpr int bank_group(int byte_offset) { return (byte_offset / SMEM_CHUNK_BYTES) % SMEM_LINE_CHUNKS; }

constexpr int CHUNKS_PER_K_STEP = 2;  // an mma k-step reads 32 bytes of K: 16 bf16/f16 or 32 FP8

// Byte offset in the tile that `lane` gives ldmatrix.x4 to load the A
// fragments (mma_layout.h: ldmatrix_a_source) of the 16 rows from
// `tile_row0` at k-step `k_step`.
MOEKIT_HD constexpr int ldmatrix_a_offset(int lane, int tile_row0, int k_step, int chunks_per_row) {
  return swizzled_offset(tile_row0 + ldmatrix_a_source(lane).row, k_step * CHUNKS_PER_K_STEP + ldmatrix_a_source(lane).col, chunks_per_row);
}

// Byte offset in the tile that `lane` gives ldmatrix.x4 to load the B
// fragments (mma_layout.h: ldmatrix_b_source) of the two 8-row tiles from
// `tile_row0` at k-step `k_step`.
MOEKIT_HD constexpr int ldmatrix_b_offset(int lane, int tile_row0, int k_step, int chunks_per_row) {
  return swizzled_offset(tile_row0 + ldmatrix_b_source(lane).row, k_step * CHUNKS_PER_K_STEP + ldmatrix_b_source(lane).col, chunks_per_row);
}

// Copy number `i` of thread `thread` (of `num_threads`) fills chunk
// (row, c) of the tile, returned as {row, c}: consecutive threads take
// consecutive chunks of a row, so a warp reads whole rows of global memory
// at a time.
MOEKIT_HD constexpr RowCol copy_chunk(int thread, int i, int num_threads, int chunks_per_row) {
  return RowCol{(i * num_threads + thread) / chunks_per_row, (i * num_threads + thread) % chunks_per_row};
}

// Element offset in the row-major [rows, k] source matrix of chunk `c`
// ({row, chunk}) of the tile whose top-left element is (row0, k0), with
// `chunk_elems` elements per chunk; -1 when the chunk lies outside the
// matrix (it is zero-filled). With k % chunk_elems == 0 a chunk is never
// partly inside.
MOEKIT_HD constexpr int64_t chunk_source(int64_t row0, int64_t k0, RowCol c, int chunk_elems, int64_t rows, int64_t k) {
  return row0 + c.row < rows && k0 + static_cast<int64_t>(c.col) * chunk_elems < k
             ? (row0 + c.row) * k + k0 + static_cast<int64_t>(c.col) * chunk_elems
             : -1;
}

}  // namespace moekit
