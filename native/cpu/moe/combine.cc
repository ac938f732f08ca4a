// moe.combine on the CPU: the reference for cuda/moe/combine_v1.cu (see
// native/ops/moe/combine.h): per token and column, shared first, then one
// std::fma per pick in k order, in f32, rounded once to the output dtype.
#include "../../ops/moe/combine.h"

#include <cmath>

#include "../../common/float_convert.h"
#include "../../core/thread_pool.h"

namespace moekit {

void combine_cpu(const CombineParams& p) {
  parallel_for(p.tokens, 16, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t c = 0; c < p.hidden; ++c) {
        float acc = p.shared ? load_as_float(p.shared, p.shared_dtype, t * p.hidden + c) : 0.0f;
        for (int64_t k = 0; k < p.top_k; ++k) {
          const int64_t r = p.inverse[t * p.top_k + k];
          if (r < 0 || r >= p.rows) continue;
          const float w = p.weights ? p.weights[t * p.top_k + k] : 1.0f;
          acc = std::fma(w, load_as_float(p.y, p.y_dtype, r * p.hidden + c), acc);
        }
        store_from_double(p.out, p.out_dtype, t * p.hidden + c, acc);
      }
    }
  });
}

}  // namespace moekit
