// Which output tile a block of a 1-D grid computes. __host__ __device__ so
// tests/native/mma_layout_check.cc can check that every tile is computed
// exactly once for any tile counts.
//
// Blocks are launched in id order, so the blocks resident together are
// consecutive ids. Walking the tiles row by row would have them share one
// row of A but sweep all of B; walking `group_m` tile rows column by
// column instead keeps a group_m x (a few columns) patch of C in flight,
// whose A rows and B rows stay in L2 between the blocks that reuse them.
#pragma once

#include <cstdint>

#include "../../native/common/hd.h"

namespace moekit {

struct TileIndex {
  int64_t m;  // tile row: output rows [m * BLOCK_M, (m + 1) * BLOCK_M)
  int64_t n;  // tile column
};

// Tile of block `block` (0 <= block < tiles_m * tiles_n): groups of
// `group_m` tile rows (the last group may be shorter), each group walked
// column by column, top to bottom within a column.
MOEKIT_HD TileIndex grouped_tile(int64_t block, int64_t tiles_m, int64_t tiles_n, int64_t group_m) {
  const int64_t blocks_per_group = group_m * tiles_n;
  const int64_t group = block / blocks_per_group;
  const int64_t first_m = group * group_m;
  const int64_t rows_in_group = tiles_m - first_m < group_m ? tiles_m - first_m : group_m;
  const int64_t in_group = block - group * blocks_per_group;
  return TileIndex{first_m + in_group % rows_in_group, in_group / rows_in_group};
}

}  // namespace moekit
