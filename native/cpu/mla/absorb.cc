// mla.absorbQuery / mla.projectOutput on the CPU: the reference for
// cuda/mla/absorb_v1.cu (see native/ops/mla/absorb.h). Straight loops in the
// order of the formula, double accumulation, one rounding to bf16.
#include "../../ops/mla/absorb.h"

#include <vector>

#include "../../common/float_convert.h"
#include "../../core/thread_pool.h"

namespace moekit {

void absorb_cpu(const AbsorbParams& p) {
  const int64_t K = absorb_k(p);
  const int64_t N = absorb_n(p);
  // Rows of wkv_b this call multiplies with: W_UK_h (absorbQuery) or W_UV_h (projectOutput).
  const int64_t w_row0 = p.project ? MLA_NOPE : 0;
  parallel_for(p.tokens * p.heads, 4, [&](int64_t r0, int64_t r1) {
    std::vector<double> x(static_cast<size_t>(K));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t h = r % p.heads;
      for (int64_t k = 0; k < K; ++k) x[static_cast<size_t>(k)] = load_as_double(p.x, DType::BF16, r * K + k);
      const uint16_t* w = p.wkv_b + h * MLA_WKV_B_ROWS * MLA_LATENT + w_row0 * MLA_LATENT;
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0.0;
        if (p.project) {
          // out[t, h, d] = sum_c o[t, h, c] * W_UV_h[d, c]
          for (int64_t c = 0; c < K; ++c) acc += x[static_cast<size_t>(c)] * load_as_double(w, DType::BF16, n * MLA_LATENT + c);
        } else {
          // out[t, h, c] = sum_d q_nope[t, h, d] * W_UK_h[d, c]
          for (int64_t d = 0; d < K; ++d) acc += x[static_cast<size_t>(d)] * load_as_double(w, DType::BF16, d * MLA_LATENT + n);
        }
        store_from_double(p.out, DType::BF16, r * N + n, acc);
      }
    }
  });
}

}  // namespace moekit
