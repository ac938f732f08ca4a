// Which output tiles a persistent block computes, for GEMMs launched with a
// fixed grid (one block per multiprocessor) that walk the tiles themselves.
//
// Block b takes tiles b, b + grid, b + 2 * grid, ... in the order below.
// The order groups the tile columns into bands of `group_n` columns and
// walks each band row by row, so the tiles in flight at one time (about one
// per multiprocessor) cover a compact rectangle of C: they share the A rows
// and the B rows they load, which then come from L2 instead of memory.
// The last band may be narrower. Checked on the host by
// tests/native/sm90/tile_scheduler_check.cc.
#pragma once

#include <cstdint>

#include "../../../native/common/hd.h"
#include "../../../native/common/math.h"
#include "../tile_scheduler.h"

namespace moekit {
namespace sm90 {

struct OutputTile {
  int32_t m_block;  // tile row: rows m_block * block_m ..
  int32_t n_block;  // tile column: columns n_block * block_n ..
};

class TileScheduler {
 public:
  // m, n < 2^31 (the launcher checks); empty when either is 0.
  MOEKIT_HD TileScheduler(int64_t m, int64_t n, int32_t block_m, int32_t block_n, int32_t group_n)
      : num_m_blocks_(static_cast<int32_t>(ceil_div<int64_t>(m, block_m))),
        num_n_blocks_(static_cast<int32_t>(ceil_div<int64_t>(n, block_n))),
        group_n_(group_n) {}

  MOEKIT_HD int32_t num_m_blocks() const { return num_m_blocks_; }
  MOEKIT_HD int32_t num_n_blocks() const { return num_n_blocks_; }
  // int64: ceil(2^31 / 64)^2 tiles would not fit 32 bits.
  MOEKIT_HD int64_t num_tiles() const { return static_cast<int64_t>(num_m_blocks_) * num_n_blocks_; }

  // The tile at position `index` (0 <= index < num_tiles()) of the walk.
  MOEKIT_HD OutputTile tile(int64_t index) const {
    const int64_t band_tiles = static_cast<int64_t>(group_n_) * num_m_blocks_;
    const int64_t band = index / band_tiles;
    const int64_t in_band = index - band * band_tiles;
    const int64_t first_n = band * group_n_;
    const int64_t rest_n = num_n_blocks_ - first_n;
    const int64_t width = rest_n < group_n_ ? rest_n : group_n_;
    OutputTile t;
    t.m_block = static_cast<int32_t>(in_band / width);
    t.n_block = static_cast<int32_t>(first_n + in_band % width);
    return t;
  }

 private:
  int32_t num_m_blocks_;
  int32_t num_n_blocks_;
  int32_t group_n_;
};

// The scheduler a persistent kernel takes as its Scheduler type (fp8Gemm
// v3) for the normal GEMM: TileScheduler's walk over C [m, n] with the
// kernel's tile and band sizes, each tile placed in the operands as a
// GemmTile. A grouped GEMM over MoE experts swaps in a scheduler with the
// same three members whose tiles name other rows (../tile_scheduler.h says
// which); the kernel stays. Block b of a grid of G takes tiles b, b + G, ...
//   template <typename Params> MOEKIT_HD explicit Scheduler(const Params& p);
//   MOEKIT_HD int64_t num_tiles() const;
//   MOEKIT_HD GemmTile tile(int64_t index) const;   // 0 <= index < num_tiles()
template <int BLOCK_M, int BLOCK_N, int GROUP_N>
class NormalPersistentScheduler {
 public:
  template <typename Params>
  MOEKIT_HD explicit NormalPersistentScheduler(const Params& p)
      : walk_(p.m, p.n, BLOCK_M, static_cast<int32_t>(tile_columns<BLOCK_N>(p.gated)), GROUP_N), m_(p.m), n_(p.n), gated_(p.gated) {}

  MOEKIT_HD int64_t num_tiles() const { return walk_.num_tiles(); }

  MOEKIT_HD GemmTile tile(int64_t index) const {
    const OutputTile t = walk_.tile(index);
    const int64_t n0 = static_cast<int64_t>(t.n_block) * tile_columns<BLOCK_N>(gated_);
    return expert_tile(static_cast<int64_t>(t.m_block) * BLOCK_M, m_, 0, n_, n0, gated_);
  }

 private:
  TileScheduler walk_;
  int64_t m_;
  int64_t n_;
  bool gated_;
};

// The grouped GEMMs over MoE experts (p.groups: contiguous or masked):
// TileScheduler's walk over the row tiles of ../grouped_tiles.h, which
// include empty ones (GemmTile::empty(): skipped by every role of the
// block alike, so producer and consumers stay in step).
template <int BLOCK_M, int BLOCK_N, int GROUP_N>
class GroupedPersistentScheduler {
 public:
  template <typename Params>
  MOEKIT_HD explicit GroupedPersistentScheduler(const Params& p)
      : walk_(grouped_row_tiles(p.groups, p.m, BLOCK_M) * BLOCK_M, p.n, BLOCK_M, static_cast<int32_t>(tile_columns<BLOCK_N>(p.gated)),
              GROUP_N),
        groups_(p.groups),
        m_(p.m),
        n_(p.n),
        gated_(p.gated) {}

  MOEKIT_HD int64_t num_tiles() const { return walk_.num_tiles(); }

  MOEKIT_HD GemmTile tile(int64_t index) const {
    const OutputTile t = walk_.tile(index);
    const ExpertRowTile r = grouped_row_tile(groups_, m_, BLOCK_M, t.m_block);
    return expert_tile(r.row0, r.end, r.expert, n_, static_cast<int64_t>(t.n_block) * tile_columns<BLOCK_N>(gated_), gated_);
  }

 private:
  TileScheduler walk_;
  ExpertGroups groups_;
  int64_t m_;
  int64_t n_;
  bool gated_;
};

// Blocks of a persistent launch: one per multiprocessor, never more than
// there are tiles (and at least one, so an empty walk still launches sanely).
MOEKIT_HD int64_t persistent_grid_size(int64_t num_tiles, int num_sms) {
  const int64_t sms = num_sms > 0 ? num_sms : 1;
  const int64_t grid = num_tiles < sms ? num_tiles : sms;
  return grid > 0 ? grid : 1;
}

}  // namespace sm90
}  // namespace moekit
