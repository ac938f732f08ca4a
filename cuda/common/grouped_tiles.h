// Where the row tiles of a grouped GEMM lie (native/common/expert_groups.h):
// the M side of every grouped tile scheduler, one-tile-per-block and
// persistent alike. __host__ __device__ and free of CUDA, so
// tests/native/grouped_tiles_check.cc walks it on the CPU over ragged and
// empty experts.
//
// The host sizes the grid before the device has counted any expert's rows,
// so the row tiles are numbered over a space whose size the host knows, and
// a tile finds its expert by reading the layout on the device; positions
// with no rows behind them are empty tiles, which blocks skip.
//
//   contiguous: expert e's tiles are numbered from
//                 u(e) = floor(offsets[e] / block_m) + e,
//               one per block_m rows of its segment. u is strictly
//               increasing, and u(e + 1) - u(e) >= ceil(segment_e / block_m)
//               (the floor of a sum exceeds the sum of floors by at most
//               one), so the numbers of two experts never collide and no
//               tile straddles two experts; all fit below
//               floor(m / block_m) + experts. Tile i belongs to the last e
//               with u(e) <= i: a binary search over offsets.
//   masked:     expert e's tiles are e * ceil(max_rows / block_m) + j.
#pragma once

#include <cstdint>

#include "../../native/common/expert_groups.h"
#include "../../native/common/hd.h"
#include "../../native/common/math.h"

namespace moekit {

// Rows [row0, end) of A and C of one row tile, and its expert; empty when
// row0 >= end.
struct ExpertRowTile {
  int64_t row0;
  int64_t end;
  int32_t expert;
};

MOEKIT_HD int64_t clamp_rows(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

// How many row tiles of block_m the layout numbers (an upper bound on the
// tiles with rows: the rest are empty). `m`: the rows of A and C.
MOEKIT_HD int64_t grouped_row_tiles(const ExpertGroups& g, int64_t m, int64_t block_m) {
  switch (g.layout) {
    case GroupLayout::Contiguous:
      return m / block_m + g.experts;
    case GroupLayout::Masked:
      return g.experts * ceil_div<int64_t>(g.max_rows, block_m);
    default:
      return ceil_div<int64_t>(m, block_m);
  }
}

// Row tile i (0 <= i < grouped_row_tiles(g, m, block_m)). Reads g.offsets
// and g.counts (device memory in a kernel), clamped into [0, m].
MOEKIT_HD ExpertRowTile grouped_row_tile(const ExpertGroups& g, int64_t m, int64_t block_m, int64_t i) {
  if (g.layout == GroupLayout::Masked) {
    const int64_t per_expert = ceil_div<int64_t>(g.max_rows, block_m);
    const int32_t e = static_cast<int32_t>(i / per_expert);
    const int64_t first = e * g.max_rows;
    const int64_t row0 = first + (i - e * per_expert) * block_m;
    const int64_t end = first + clamp_rows(g.counts[e], 0, g.max_rows);
    return ExpertRowTile{row0, end, e};
  }
  if (g.layout != GroupLayout::Contiguous) {
    return ExpertRowTile{i * block_m, m, 0};
  }
  const auto first_tile = [&](int32_t e) { return clamp_rows(g.offsets[e], 0, m) / block_m + e; };
  // The last e in [0, experts) with first_tile(e) <= i; none when i < first_tile(0).
  int32_t lo = 0, hi = g.experts;  // answer in [lo, hi)
  if (first_tile(0) > i) return ExpertRowTile{0, 0, 0};
  while (hi - lo > 1) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (first_tile(mid) <= i) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const int32_t e = lo;
  const int64_t start = clamp_rows(g.offsets[e], 0, m);
  int64_t end = clamp_rows(g.offsets[e + 1], start, m);
  if (g.counts) end = start + clamp_rows(g.counts[e], 0, end - start);
  const int64_t row0 = start + (i - first_tile(e)) * block_m;
  return ExpertRowTile{row0, end, e};
}

}  // namespace moekit
