// moe.gather on the CPU: the reference for cuda/moe/gather_v1.cu (see
// native/ops/moe/gather.h). Each row is a copy of its token's row, or zeros;
// quantized, chunks of gathered rows go through quantize's CPU twin itself
// (1x128 blocks), so the two agree by construction.
#include "../../ops/moe/gather.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../../common/fp8_block.h"
#include "../../common/math.h"
#include "../../core/thread_pool.h"
#include "../../ops/fp8/quantize.h"

namespace moekit {

namespace {

// Rows [r0, r1) of the gather into dst (row r at (r - r0) * hidden elements).
void gather_rows(const GatherParams& p, int64_t r0, int64_t r1, void* dst) {
  const int64_t row_bytes = p.hidden * dtype_size(p.x_dtype);
  const int64_t picks = p.tokens * p.top_k;
  for (int64_t r = r0; r < r1; ++r) {
    auto* to = static_cast<unsigned char*>(dst) + (r - r0) * row_bytes;
    const int64_t id = p.row_ids[r];
    if (id < 0 || id >= picks) {
      std::memset(to, 0, static_cast<size_t>(row_bytes));
    } else {
      std::memcpy(to, static_cast<const unsigned char*>(p.x) + id / p.top_k * row_bytes, static_cast<size_t>(row_bytes));
    }
  }
}

// Rows quantized per chunk: the scratch stays small whatever P is.
constexpr int64_t QUANTIZE_CHUNK_ROWS = 256;

}  // namespace

void gather_cpu(const GatherParams& p) {
  if (!p.quantize) {
    parallel_for(p.rows, 64, [&](int64_t r0, int64_t r1) {
      gather_rows(p, r0, r1, static_cast<unsigned char*>(p.out) + r0 * p.hidden * dtype_size(p.x_dtype));
    });
    return;
  }
  const int64_t kblocks = ceil_div(p.hidden, FP8_SCALE_BLOCK);
  std::vector<unsigned char> chunk(static_cast<size_t>(std::min(p.rows, QUANTIZE_CHUNK_ROWS) * p.hidden * dtype_size(p.x_dtype)));
  for (int64_t c0 = 0; c0 < p.rows; c0 += QUANTIZE_CHUNK_ROWS) {
    const int64_t c1 = std::min(p.rows, c0 + QUANTIZE_CHUNK_ROWS);
    gather_rows(p, c0, c1, chunk.data());
    const QuantizeParams q{chunk.data(), p.values + c0 * p.hidden, p.scales + c0 * kblocks, nullptr, p.x_dtype, p.format,
                           QuantBlock::ROW_128, p.ue8m0, 1, c1 - c0, p.hidden};
    quantize_cpu(q);
  }
}

}  // namespace moekit
