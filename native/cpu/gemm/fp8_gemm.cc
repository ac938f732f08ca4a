// fp8Gemm on the CPU: the reference for cuda/gemm/fp8_gemm_v*.cu, with the
// same quantized math (see native/ops/gemm/fp8_gemm.h): each 128-wide K block is
// summed on its own (here in double: FP8 products are exact), multiplied by
// a_scales[m, kb] * b_scales[n / 128, kb] and accumulated; the output is
// rounded once to its dtype (after the row scale, when there is one). One
// plain GEMM: moe.groupedGemm's twin calls it once per expert.
#include "../../ops/gemm/fp8_gemm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "../../common/float_convert.h"
#include "../../core/thread_pool.h"

namespace moekit {

namespace {

constexpr int64_t B_TILE_ROWS = 16;

std::array<float, 256> decode_table(DType format) {
  std::array<float, 256> t{};
  for (uint32_t c = 0; c < 256; ++c) t[c] = format == DType::E4M3 ? decode_narrow<Narrow::E4M3>(c) : decode_narrow<Narrow::E5M2>(c);
  return t;
}

// Σ over K blocks kb of (Σ_{k in kb} a[k]·b[k]) · a_scales[i, kb] · b_scales[j / 128, kb]:
// row i of A and row j of B (decoded), each block summed on its own in double.
double block_scaled_dot(const Fp8GemmParams& p, const float* a, const float* b, int64_t i, int64_t j) {
  const float* sb = &p.b_scales[(j / FP8_SCALE_BLOCK) * p.scale_k];
  double acc = 0.0;
  for (int64_t kb = 0; kb < p.scale_k; ++kb) {
    const int64_t k0 = kb * FP8_SCALE_BLOCK;
    const int64_t k1 = std::min(p.k, k0 + FP8_SCALE_BLOCK);
    double block = 0.0;
    for (int64_t kk = k0; kk < k1; ++kk) block += static_cast<double>(a[kk] * b[kk]);
    acc += block * static_cast<double>(p.a_scales[i * p.scale_k + kb]) * static_cast<double>(sb[kb]);
  }
  return acc;
}

}  // namespace

void fp8_gemm_cpu(const Fp8GemmParams& p) {
  if (p.m == 0 || p.n == 0) return;
  const auto a_table = decode_table(p.a_format);
  const auto b_table = decode_table(p.b_format);
  std::vector<float> a(static_cast<size_t>(p.m * p.k));
  parallel_for(p.m * p.k, 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) a[static_cast<size_t>(i)] = a_table[p.a[i]];
  });
  if (p.gated) {
    // C[i, j] = silu(gate) * up of the block-scaled products with B rows j and n + j.
    parallel_for(p.m, 1, [&](int64_t i0, int64_t i1) {
      std::vector<float> gate(static_cast<size_t>(p.k)), up(static_cast<size_t>(p.k));
      for (int64_t j = 0; j < p.n; ++j) {
        for (int64_t kk = 0; kk < p.k; ++kk) {
          gate[static_cast<size_t>(kk)] = b_table[p.b[j * p.k + kk]];
          up[static_cast<size_t>(kk)] = b_table[p.b[(p.n + j) * p.k + kk]];
        }
        for (int64_t i = i0; i < i1; ++i) {
          const float* ai = &a[static_cast<size_t>(i * p.k)];
          const double g = block_scaled_dot(p, ai, gate.data(), i, j);
          const double v = g / (1.0 + std::exp(-g)) * block_scaled_dot(p, ai, up.data(), i, p.n + j);
          store_from_double(p.c, p.c_dtype, i * p.n + j, p.row_scale ? v * p.row_scale[i] : v);
        }
      }
    });
    return;
  }
  const int64_t tiles = (p.n + B_TILE_ROWS - 1) / B_TILE_ROWS;
  parallel_for(tiles, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> b(static_cast<size_t>(B_TILE_ROWS * p.k));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n0 = t * B_TILE_ROWS;
      const int64_t n1 = std::min(p.n, n0 + B_TILE_ROWS);
      for (int64_t j = n0; j < n1; ++j) {
        for (int64_t kk = 0; kk < p.k; ++kk) b[static_cast<size_t>((j - n0) * p.k + kk)] = b_table[p.b[j * p.k + kk]];
      }
      for (int64_t i = 0; i < p.m; ++i) {
        const float* ai = &a[static_cast<size_t>(i * p.k)];
        for (int64_t j = n0; j < n1; ++j) {
          const double acc = block_scaled_dot(p, ai, &b[static_cast<size_t>((j - n0) * p.k)], i, j);
          store_from_double(p.c, p.c_dtype, i * p.n + j, p.row_scale ? acc * p.row_scale[i] : acc);
        }
      }
    }
  });
}

}  // namespace moekit
