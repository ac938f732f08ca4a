// mla.decode on the CPU: the reference for cuda/mla/decode_v1.cu and
// decode_v2.cu (see native/ops/mla/decode.h). Straight loops per (sequence,
// query token, head): scores, softmax and the weighted sum of the latent all
// in double (the cache row decoded exactly to float first: bf16, or e4m3
// code · scale in f32 as v1 computes it), then out rounded once to bf16
// and lse once to f32. It checks the device data the binding cannot see
// (lengths, page ids) and fails the queued work on bad values. Threads over
// the (sequence, query token) pairs.
#include "../../ops/mla/decode.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "../../common/error.h"
#include "../../common/float_convert.h"
#include "../../core/thread_pool.h"

namespace moekit {

namespace {

float bf16_value(uint16_t b) { return float_from_bits(static_cast<uint32_t>(b) << 16); }

// Token t's row of a sequence, decoded to floats [576].
void load_row(const MlaDecodeParams& p, int64_t page, int64_t slot, float* row) {
  const int64_t index = page * p.page_size + slot;
  if (p.cache_dtype == DType::BF16) {
    const uint16_t* src = static_cast<const uint16_t*>(p.cache) + index * MLA_HEAD;
    for (int c = 0; c < MLA_HEAD; ++c) row[c] = bf16_value(src[c]);
    return;
  }
  const uint8_t* src = static_cast<const uint8_t*>(p.cache) + index * MLA_FP8_ROW_BYTES;
  float scales[MLA_FP8_SCALES];
  std::memcpy(scales, src + MLA_FP8_SCALES_OFFSET, sizeof(scales));
  for (int c = 0; c < MLA_LATENT; ++c) row[c] = decode_narrow<Narrow::E4M3>(src[c]) * scales[c / FP8_SCALE_BLOCK];
  uint16_t rope[MLA_ROPE];
  std::memcpy(rope, src + MLA_FP8_ROPE_OFFSET, sizeof(rope));
  for (int c = 0; c < MLA_ROPE; ++c) row[MLA_LATENT + c] = bf16_value(rope[c]);
}

}  // namespace

void mla_decode_cpu(const MlaDecodeParams& p) {
  const int64_t capacity = int64_t{p.max_pages} * p.page_size;
  // The device data the binding could not check, before any output is written.
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t len = p.seq_lens[b];
    if (len < 0 || len > capacity) {
      throw Error(ErrorCode::OutOfRange, "mla.decode: seqLens[" + std::to_string(b) + "] must be in [0, " + std::to_string(capacity) +
                                             "] (the block table's max_pages · pageSize), got " + std::to_string(len));
    }
    for (int64_t i = 0; i * p.page_size < len; ++i) {
      const int32_t page = p.block_table[b * p.max_pages + i];
      if (page < 0 || page >= p.blocks) {
        throw Error(ErrorCode::OutOfRange, "mla.decode: blockTable[" + std::to_string(b) + ", " + std::to_string(i) +
                                               "] must be a page id in [0, " + std::to_string(p.blocks) + "), got " + std::to_string(page));
      }
    }
  }
  const int64_t H = p.heads;
  const int64_t Sq = p.q_len;
  parallel_for(p.batch * Sq, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> keys;
    std::vector<double> scores;
    for (int64_t bi = begin; bi < end; ++bi) {
      const int64_t b = bi / Sq;
      const int64_t i = bi % Sq;
      const int64_t len = p.seq_lens[b];
      const int64_t visible = p.causal ? std::min(len, len - Sq + i + 1) : len;
      const int64_t n = visible > 0 ? visible : 0;
      keys.resize(static_cast<size_t>(n * MLA_HEAD));
      for (int64_t t = 0; t < n; ++t) {
        load_row(p, p.block_table[b * p.max_pages + t / p.page_size], t % p.page_size, keys.data() + t * MLA_HEAD);
      }
      scores.resize(static_cast<size_t>(n));
      for (int64_t h = 0; h < H; ++h) {
        const uint16_t* q = p.q + ((b * Sq + i) * H + h) * MLA_HEAD;
        uint16_t* out = p.out + ((b * Sq + i) * H + h) * MLA_LATENT;
        float* lse = p.lse + (b * H + h) * Sq + i;
        if (n == 0) {
          for (int c = 0; c < MLA_LATENT; ++c) out[c] = 0;
          *lse = std::numeric_limits<float>::infinity();
          continue;
        }
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t t = 0; t < n; ++t) {
          const float* k = keys.data() + t * MLA_HEAD;
          double dot = 0.0;
          for (int c = 0; c < MLA_HEAD; ++c) dot += static_cast<double>(bf16_value(q[c])) * k[c];
          scores[static_cast<size_t>(t)] = dot * p.softmax_scale;
          m = std::max(m, scores[static_cast<size_t>(t)]);
        }
        double l = 0.0;
        for (int64_t t = 0; t < n; ++t) {
          scores[static_cast<size_t>(t)] = std::exp(scores[static_cast<size_t>(t)] - m);
          l += scores[static_cast<size_t>(t)];
        }
        for (int c = 0; c < MLA_LATENT; ++c) {
          double acc = 0.0;
          for (int64_t t = 0; t < n; ++t) acc += scores[static_cast<size_t>(t)] * keys[static_cast<size_t>(t * MLA_HEAD + c)];
          out[c] = bf16_from_float(f32_from_double(acc / l));
        }
        *lse = f32_from_double(m + std::log(l));
      }
    }
  });
}

}  // namespace moekit
