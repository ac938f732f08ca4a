// moe.swiglu on the CPU: the reference for cuda/moe/swiglu_v1.cu (see
// native/ops/moe/swiglu.h): silu(g) * u in f32, rounded once to the output
// dtype; quantized, chunks of the f32 activations go through quantize's CPU
// twin itself (1x128 blocks), so the two agree by construction.
#include "../../ops/moe/swiglu.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../common/float_convert.h"
#include "../../common/fp8_block.h"
#include "../../common/math.h"
#include "../../core/thread_pool.h"
#include "../../ops/fp8/quantize.h"

namespace moekit {

namespace {

// The activation of row r, column j, in f32 (the order of the header).
float swiglu_at(const SwigluParams& p, int64_t r, int64_t j) {
  const float g = load_as_float(p.h, p.h_dtype, r * 2 * p.inter + j);
  const float u = load_as_float(p.h, p.h_dtype, r * 2 * p.inter + p.inter + j);
  const float silu = g / (1.0f + std::exp(-g));
  return silu * u;
}

constexpr int64_t QUANTIZE_CHUNK_ROWS = 256;

}  // namespace

void swiglu_cpu(const SwigluParams& p) {
  if (!p.quantize) {
    parallel_for(p.rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t j = 0; j < p.inter; ++j) store_from_double(p.out, p.out_dtype, r * p.inter + j, swiglu_at(p, r, j));
      }
    });
    return;
  }
  const int64_t kblocks = ceil_div(p.inter, FP8_SCALE_BLOCK);
  std::vector<float> chunk(static_cast<size_t>(std::min(p.rows, QUANTIZE_CHUNK_ROWS) * p.inter));
  for (int64_t c0 = 0; c0 < p.rows; c0 += QUANTIZE_CHUNK_ROWS) {
    const int64_t c1 = std::min(p.rows, c0 + QUANTIZE_CHUNK_ROWS);
    parallel_for(c1 - c0, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t j = 0; j < p.inter; ++j) chunk[static_cast<size_t>(r * p.inter + j)] = swiglu_at(p, c0 + r, j);
      }
    });
    const QuantizeParams q{chunk.data(), p.values + c0 * p.inter, p.scales + c0 * kblocks, nullptr, DType::F32, p.format,
                           QuantBlock::ROW_128, p.ue8m0, 1, c1 - c0, p.inter};
    quantize_cpu(q);
  }
}

}  // namespace moekit
