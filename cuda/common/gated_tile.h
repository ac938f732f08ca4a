// The SwiGLU-gated GEMM (GemmParams::gated): C [m, n] = silu(A · gateᵀ) ⊙
// (A · upᵀ) with B = [gate; up] ([2n, K] per expert, W13 = [W1; W3]), fused
// into the epilogue so the [m, 2n] product never reaches memory.
//
// A tile of BLOCK_N rows of B computes BLOCK_N / 2 columns of C. Its B rows
// come in blocks of G, alternately gate and up rows of the same G output
// columns:
//   tile row r = 2G·q + G·h + i  holds  (h = 0: gate, h = 1: up) row of
//   output column c_col0 + G·q + i.
// G is the width of the accumulator fragments each thread holds side by
// side (2 for the SIMT kernels' 4-column micro-tiles, 8 for the mma.sync and
// wgmma n8 fragments), so every thread finds a gate value and its up value
// in its own registers, and the epilogue needs no data exchange.
// __host__ __device__, checked on the CPU by tests/native/grouped_tiles_check.cc.
#pragma once

#include <cmath>
#include <cstdint>

#include "../../native/common/hd.h"
#include "tile_scheduler.h"

namespace moekit {

// Output column of tile row (or accumulator column) r, relative to c_col0.
MOEKIT_HD constexpr int64_t gated_column(int64_t r, int g) { return (r / (2 * g)) * g + r % g; }

// Whether tile row (or accumulator column) r is an up row.
MOEKIT_HD constexpr bool gated_is_up(int64_t r, int g) { return (r / g) % 2 == 1; }

// The row of B that tile row r of `tile` loads, or -1 past the problem
// (zero-filled). Plain tiles: rows from b_row0 below b_rows; gated ones as above.
template <int G>
MOEKIT_HD int64_t tile_b_row(const GemmTile& tile, int64_t n, int64_t r) {
  if (tile.up_offset == 0) return tile.b_row0 + r < tile.b_rows ? tile.b_row0 + r : -1;
  const int64_t col = gated_column(r, G);
  if (tile.c_col0 + col >= n) return -1;
  return tile.b_row0 + col + (gated_is_up(r, G) ? tile.up_offset : 0);
}

// silu(gate) * up in f32, as every GEMM path's gated epilogue computes it.
MOEKIT_HD float silu_times(float gate, float up) { return gate / (1.0f + expf(-gate)) * up; }

}  // namespace moekit
