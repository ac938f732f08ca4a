// mla.prefill on the CPU: the reference for cuda/mla/prefill_v1.cu (see
// native/ops/mla/prefill.h). Per sequence and head, straight loops in the
// order of the math: decompress the sequence's keys and values from the
// latent (double sums, rounded to bf16 as the header says), then the
// attention of each query over its keys with a float64 softmax. It does not
// use the CUDA tile scheduler (cuda/mla/prefill_tiles.h), so a bug there
// cannot hide in both.
#include "../../ops/mla/prefill.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../../common/error.h"
#include "../../common/float_convert.h"
#include "../../core/thread_pool.h"

namespace moekit {

namespace {

double bf16_value(const uint16_t* p, int64_t i) { return load_as_double(p, DType::BF16, i); }

double round_to_bf16(double v) {
  uint16_t b = 0;
  store_from_double(&b, DType::BF16, 0, v);
  return bf16_value(&b, 0);
}

// 0 = cu[0] <= cu[1] <= ... <= cu[seqs] = tokens, or the call fails.
void check_cu_seq_lens(const PrefillParams& p) {
  const int32_t* cu = p.cu_seq_lens;
  for (int32_t b = 0; b <= p.seqs; ++b) {
    const bool bad = (b == 0 && cu[0] != 0) || (b > 0 && cu[b] < cu[b - 1]) || (b == p.seqs && cu[b] != p.tokens);
    if (bad) {
      std::string got = "[";
      for (int32_t i = 0; i <= p.seqs && i < 16; ++i) got += (i ? ", " : "") + std::to_string(cu[i]);
      got += p.seqs >= 16 ? ", ...]" : "]";
      throw_range_error("mla.prefill", "cuSeqLens", "non-decreasing from 0 to T = " + std::to_string(p.tokens) + " (entry " + std::to_string(b) + " is not)", got);
    }
  }
}

}  // namespace

void prefill_cpu(const PrefillParams& p) {
  check_cu_seq_lens(p);
  const int64_t H = p.heads;
  parallel_for(static_cast<int64_t>(p.seqs) * H, 1, [&](int64_t w0, int64_t w1) {
    std::vector<double> k;  // [len, 192]: k_nope (bf16-rounded) | k_rope
    std::vector<double> v;  // [len, 128]
    std::vector<double> score;
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / H;
      const int64_t h = w % H;
      const int64_t start = p.cu_seq_lens[b];
      const int64_t len = p.cu_seq_lens[b + 1] - start;
      k.assign(static_cast<size_t>(len * MLA_QK), 0.0);
      v.assign(static_cast<size_t>(len * MLA_V), 0.0);
      // Decompression: k_nope = latent . W_UK_h^T, v = latent . W_UV_h^T.
      const uint16_t* w_uk = p.wkv_b + h * MLA_WKV_B_ROWS * MLA_LATENT;
      const uint16_t* w_uv = w_uk + MLA_NOPE * MLA_LATENT;
      for (int64_t j = 0; j < len; ++j) {
        const uint16_t* lat = p.latent + (start + j) * MLA_LATENT;
        for (int64_t d = 0; d < MLA_NOPE; ++d) {
          double acc = 0.0;
          for (int64_t c = 0; c < MLA_LATENT; ++c) acc += bf16_value(lat, c) * bf16_value(w_uk, d * MLA_LATENT + c);
          k[static_cast<size_t>(j * MLA_QK + d)] = round_to_bf16(acc);
        }
        for (int64_t d = 0; d < MLA_ROPE; ++d) k[static_cast<size_t>(j * MLA_QK + MLA_NOPE + d)] = bf16_value(p.k_rope, (start + j) * MLA_ROPE + d);
        for (int64_t d = 0; d < MLA_V; ++d) {
          double acc = 0.0;
          for (int64_t c = 0; c < MLA_LATENT; ++c) acc += bf16_value(lat, c) * bf16_value(w_uv, d * MLA_LATENT + c);
          v[static_cast<size_t>(j * MLA_V + d)] = round_to_bf16(acc);
        }
      }
      // Attention of each query of the sequence over its keys.
      for (int64_t i = 0; i < len; ++i) {
        const int64_t t = start + i;
        const uint16_t* q = p.q + (t * H + h) * MLA_QK;
        const int64_t keys = p.causal ? i + 1 : len;
        score.assign(static_cast<size_t>(keys), 0.0);
        double max_score = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < keys; ++j) {
          double dot = 0.0;
          for (int64_t d = 0; d < MLA_QK; ++d) dot += bf16_value(q, d) * k[static_cast<size_t>(j * MLA_QK + d)];
          score[static_cast<size_t>(j)] = static_cast<double>(p.softmax_scale) * dot;
          if (score[static_cast<size_t>(j)] > max_score) max_score = score[static_cast<size_t>(j)];
        }
        double sum = 0.0;
        for (int64_t j = 0; j < keys; ++j) {
          score[static_cast<size_t>(j)] = std::exp(score[static_cast<size_t>(j)] - max_score);  // unnormalized probability
          sum += score[static_cast<size_t>(j)];
        }
        for (int64_t d = 0; d < MLA_V; ++d) {
          double acc = 0.0;
          for (int64_t j = 0; j < keys; ++j) acc += score[static_cast<size_t>(j)] * v[static_cast<size_t>(j * MLA_V + d)];
          store_from_double(p.out, DType::BF16, (t * H + h) * MLA_V + d, acc / sum);
        }
        p.lse[h * p.tokens + t] = static_cast<float>(max_score + std::log(sum));
      }
    }
  });
}

}  // namespace moekit
