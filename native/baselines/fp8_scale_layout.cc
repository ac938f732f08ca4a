// fp8_scale_layout on the CPU. See cuda/baselines/fp8_scale_layout.h.
#include "../ops/baselines/fp8_scale_layout.h"

namespace moekit {

void fp8_scale_layout_cpu(const Fp8ScaleLayoutParams& p) {
  for (int64_t row = 0; row < p.m; ++row) {
    for (int64_t kb = 0; kb < p.k_blocks; ++kb) p.a_scales_lt[kb * p.m + row] = p.a_scales[row * p.k_blocks + kb];
  }
  for (int64_t nb = 0; nb < p.n_blocks; ++nb) {
    for (int64_t kb = 0; kb < p.k_blocks_padded; ++kb) {
      p.b_scales_lt[nb * p.k_blocks_padded + kb] = kb < p.k_blocks ? p.b_scales[nb * p.k_blocks + kb] : 0.0f;
    }
  }
}

}  // namespace moekit
