// Grid sizes for grid-stride kernels: enough blocks to cover the work, at
// least one, and at most MAX_GRID_STRIDE_BLOCKS (each block then loops).
#pragma once

#include <algorithm>
#include <cstdint>

#include "../../native/common/math.h"

namespace moekit {

// Far more than any GPU keeps resident (132 SMs x 32 blocks), and within
// gridDim.x's limit.
constexpr int64_t MAX_GRID_STRIDE_BLOCKS = 65535 * 16;

// Blocks for `work_items` items at `per_block` items per block.
inline unsigned grid_stride_blocks(int64_t work_items, int64_t per_block) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(ceil_div(work_items, per_block), MAX_GRID_STRIDE_BLOCKS)));
}

}  // namespace moekit
