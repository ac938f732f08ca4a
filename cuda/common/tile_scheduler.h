// Tile schedulers of the one-tile-per-block GEMM mainloops (the SIMT
// kernels of simt_tile.cuh, the mma.sync multistage_mainloop.cuh): which
// output tile a block of a 1-D grid computes, and where that tile's
// operands lie. __host__ __device__: the launcher sizes the grid with the
// same scheduler the kernel runs, and the host checks walk it on the CPU.
//
// A scheduler is the one part a GEMM variant swaps (after DeepGEMM's GEMM
// types: normal, grouped-contiguous, grouped-masked); the mainloop stays.
// It provides
//   template <typename Params> MOEKIT_HD explicit Scheduler(const Params& p);
//       built from the op's params, on the host (grid size) and in the
//       kernel alike;
//   MOEKIT_HD int64_t num_tiles() const;       // the grid: one block per tile
//   MOEKIT_HD GemmTile tile(int64_t block) const;
// and describes each tile in rows of the operands as the mainloop reads
// them (GemmTile below), so the grouped layouts of MoE experts
// (native/common/expert_groups.h) are only other row numbers:
//   normal:             A [m, K], B [n, K], C [m, n];
//   grouped-contiguous: A and C rows in expert order, no tile straddling two
//                       experts; B the experts' [n, K] weights stacked,
//                       [E * n, K]: a tile of expert e reads B rows
//                       e * n + n0 .. below (e + 1) * n;
//   grouped-masked:     A [E * max_rows, K], C [E * max_rows, n]: expert e's
//                       tiles start at row e * max_rows and end at its count;
//                       B as above.
// A grouped scheduler's grid is sized before the device has counted the
// experts' rows, so some of its tiles are empty (GemmTile::empty()): the
// block does nothing.
#pragma once

#include <cstdint>

#include "../../native/common/hd.h"
#include "../../native/common/math.h"
#include "grouped_tiles.h"
#include "tile_raster.h"

namespace moekit {

// One block's output tile: rows [a_row0, a_row0 + BLOCK_M) of A and C,
// rows [b_row0, b_row0 + BLOCK_N) of B, columns [c_col0, c_col0 + BLOCK_N)
// of C. Rows at or past a_rows (b_rows) are outside the problem: loaded as
// zeros, never stored. fp8Gemm reads the B block scales of row b_scale_row
// of its [scale rows, ceil(K / 128)] scales: one row per 128 rows of each
// expert's B (BLOCK_N divides 128, so a tile's columns share it).
// A SwiGLU-gated tile (up_offset > 0, gated_tile.h) computes BLOCK_N / 2
// columns of C from BLOCK_N rows of B: gate rows from b_row0 (below b_rows)
// and the up rows up_offset further, with scale rows b_scale_row and
// b_up_scale_row.
struct GemmTile {
  int64_t a_row0;  // first row of the tile in A and in C
  int64_t a_rows;  // end of the rows of A (and C) that belong to the tile's problem
  int64_t b_row0;  // first row of the tile in B ([rows, K]: one row per output column)
  int64_t b_rows;  // end of the rows of B that belong to the tile's problem
  int64_t c_col0;  // first column of the tile in C
  int64_t b_scale_row;  // fp8Gemm: the row of B's 128x128 block scales the tile's columns use
  int64_t up_offset;       // SwiGLU-gated: B rows from a gate row to its up row (n); 0: a plain tile
  int64_t b_up_scale_row;  // SwiGLU-gated fp8Gemm: the scale row of the up rows

  MOEKIT_HD bool empty() const { return a_row0 >= a_rows; }
};

// Output columns per tile: a gated tile spends two B rows on each.
template <int BLOCK_N>
MOEKIT_HD int64_t tile_columns(bool gated) {
  return gated ? BLOCK_N / 2 : BLOCK_N;
}

// The tile of rows [row0, end) of A and C and columns [n0, ...) of expert
// e's [n, K] weights ([2n, K], gate then up rows, when gated).
MOEKIT_HD GemmTile expert_tile(int64_t row0, int64_t end, int64_t e, int64_t n, int64_t n0, bool gated) {
  const int64_t b_rows = gated ? 2 * n : n;
  const int64_t b_first = e * b_rows;
  const int64_t scale_first = e * ceil_div<int64_t>(b_rows, 128);
  return GemmTile{row0, end, b_first + n0, b_first + n, n0, scale_first + n0 / 128, gated ? n : 0, gated ? scale_first + (n + n0) / 128 : 0};
}

// The normal GEMM: C [m, n] = A [m, K] * B [n, K]^T, its tiles in the
// grouped raster order of tile_raster.h (GROUP_M tile rows walked column by
// column, for L2 reuse).
template <int BLOCK_M, int BLOCK_N, int GROUP_M>
class NormalTileScheduler {
 public:
  template <typename Params>
  MOEKIT_HD explicit NormalTileScheduler(const Params& p)
      : m_(p.m),
        n_(p.n),
        gated_(p.gated),
        tiles_m_(ceil_div<int64_t>(p.m, BLOCK_M)),
        tiles_n_(ceil_div<int64_t>(p.n, tile_columns<BLOCK_N>(p.gated))) {}

  MOEKIT_HD int64_t num_tiles() const { return tiles_m_ * tiles_n_; }

  // The tile of block `block` (0 <= block < num_tiles()).
  MOEKIT_HD GemmTile tile(int64_t block) const {
    const TileIndex t = grouped_tile(block, tiles_m_, tiles_n_, GROUP_M);
    return expert_tile(t.m * BLOCK_M, m_, 0, n_, t.n * tile_columns<BLOCK_N>(gated_), gated_);
  }

 private:
  int64_t m_;
  int64_t n_;
  bool gated_;
  int64_t tiles_m_;
  int64_t tiles_n_;
};

// The grouped GEMMs over MoE experts (p.groups: contiguous or masked): the
// row tiles of grouped_tiles.h, in the same raster order as the normal
// scheduler.
template <int BLOCK_M, int BLOCK_N, int GROUP_M>
class GroupedTileScheduler {
 public:
  template <typename Params>
  MOEKIT_HD explicit GroupedTileScheduler(const Params& p)
      : groups_(p.groups),
        m_(p.m),
        n_(p.n),
        gated_(p.gated),
        tiles_m_(grouped_row_tiles(p.groups, p.m, BLOCK_M)),
        tiles_n_(ceil_div<int64_t>(p.n, tile_columns<BLOCK_N>(p.gated))) {}

  MOEKIT_HD int64_t num_tiles() const { return tiles_m_ * tiles_n_; }

  MOEKIT_HD GemmTile tile(int64_t block) const {
    const TileIndex t = grouped_tile(block, tiles_m_, tiles_n_, GROUP_M);
    const ExpertRowTile r = grouped_row_tile(groups_, m_, BLOCK_M, t.m);
    return expert_tile(r.row0, r.end, r.expert, n_, t.n * tile_columns<BLOCK_N>(gated_), gated_);
  }

 private:
  ExpertGroups groups_;
  int64_t m_;
  int64_t n_;
  bool gated_;
  int64_t tiles_m_;
  int64_t tiles_n_;
};

}  // namespace moekit
