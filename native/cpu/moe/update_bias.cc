// moe.updateBias on the CPU: the reference for cuda/moe/update_bias_v1.cu
// (see native/ops/moe/update_bias.h).
#include "../../ops/moe/update_bias.h"

namespace moekit {

void update_bias_cpu(const UpdateBiasParams& p) {
  int64_t total = 0;
  for (int64_t i = 0; i < p.experts; ++i) total += p.counts[i];
  for (int64_t i = 0; i < p.experts; ++i) {
    // sign(mean - c_i) = sign(total - E * c_i), exactly.
    const int64_t diff = total - p.experts * static_cast<int64_t>(p.counts[i]);
    const float sign = diff > 0 ? 1.0f : diff < 0 ? -1.0f : 0.0f;
    p.out[i] = p.bias[i] + p.rate * sign;
  }
}

}  // namespace moekit
