// The MLA baselines' steps on the CPU. See native/ops/baselines/mla_steps.h.
#include "../ops/baselines/mla_steps.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "../common/float_convert.h"

namespace moekit {

void mla_gather_cpu(const MlaGatherParams& p) {
  const uint16_t nan_bits = bf16_from_float(std::numeric_limits<float>::quiet_NaN());
  for (int64_t e = 0; e < p.count; ++e) {
    const int64_t b = p.first + e;
    const int64_t len = p.lengths[e];
    for (int64_t j = 0; j < p.max_len; ++j) {
      uint16_t* dst = p.out + (b * p.max_len + j) * MLA_ROW;
      if (j >= len) {
        std::memset(dst, 0, MLA_ROW * sizeof(uint16_t));
        continue;
      }
      const int64_t page = p.block_table[b * p.max_pages + j / p.page_size];
      if (page < 0 || page >= p.blocks) {
        for (int c = 0; c < MLA_ROW; ++c) dst[c] = nan_bits;
        continue;
      }
      std::memcpy(dst, p.cache + (page * p.page_size + j % p.page_size) * MLA_ROW, MLA_ROW * sizeof(uint16_t));
    }
  }
}

void mla_softmax_cpu(const MlaSoftmaxParams& p) {
  const int64_t rows = p.heads * p.queries;
  for (int64_t e = 0; e < p.count; ++e) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = p.head_major ? r / p.queries : r % p.heads;
      const int64_t s = p.head_major ? r % p.queries : r / p.heads;
      const int64_t limit = mla_key_limit(p.lengths[e], p.queries, s, p.causal);
      const float* x = p.scores + (e * rows + r) * p.cols;
      uint16_t* out = p.probs + (e * rows + r) * p.cols;
      float* lse = p.lse + e * p.lse_entry_stride + h * p.lse_head_stride + s;
      // f32 throughout, as the kernel (whose sums run in another order).
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < limit; ++j) m = std::fmax(m, p.scale * x[j]);
      float sum = 0.0f;
      for (int64_t j = 0; j < limit; ++j) sum += std::exp(p.scale * x[j] - m);
      for (int64_t j = 0; j < p.cols; ++j) out[j] = j < limit ? bf16_from_float(std::exp(p.scale * x[j] - m) / sum) : 0;
      *lse = limit == 0 ? std::numeric_limits<float>::infinity() : m + std::log(sum);
    }
  }
}

void mla_assemble_cpu(const MlaAssembleParams& p) {
  constexpr int NOPE = 128, ROPE = 64, QK = NOPE + ROPE, KV = 256;
  for (int64_t t = 0; t < p.tokens; ++t) {
    for (int64_t h = 0; h < p.heads; ++h) {
      uint16_t* k = p.k + (t * p.heads + h) * QK;
      std::memcpy(k, p.kv + (t * p.heads + h) * KV, NOPE * sizeof(uint16_t));
      std::memcpy(k + NOPE, p.k_rope + t * ROPE, ROPE * sizeof(uint16_t));
    }
  }
}

}  // namespace moekit
