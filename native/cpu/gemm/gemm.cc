// gemm on the CPU: the reference for cuda/gemm/. Operands are widened to
// double and each dot product is accumulated in double; the output is
// rounded once to its dtype (after the row scale, when there is one). A
// gated GEMM applies silu(gate) * up to the two double products. One plain
// GEMM: moe.groupedGemm's twin calls it once per expert.
#include "../../ops/gemm/gemm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../common/float_convert.h"
#include "../../core/thread_pool.h"

namespace moekit {

namespace {
// Rows of B decoded at a time by one thread: small enough to stay in cache
// while every row of A passes over them.
constexpr int64_t B_TILE_ROWS = 16;
}  // namespace

void gemm_cpu(const GemmParams& p) {
  if (p.m == 0 || p.n == 0) return;
  std::vector<double> a(static_cast<size_t>(p.m * p.k));
  parallel_for(p.m * p.k, 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) a[static_cast<size_t>(i)] = load_as_double(p.a, p.ab_dtype, i);
  });
  if (p.gated) {
    // C[i, j] = silu(A_i · B_j) * (A_i · B_{n + j}): gate rows, then up rows.
    const auto dot = [&](int64_t i, int64_t j) {
      double acc = 0.0;
      for (int64_t kk = 0; kk < p.k; ++kk) acc += a[static_cast<size_t>(i * p.k + kk)] * load_as_double(p.b, p.ab_dtype, j * p.k + kk);
      return acc;
    };
    parallel_for(p.m, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t j = 0; j < p.n; ++j) {
          const double g = dot(i, j);
          const double v = g / (1.0 + std::exp(-g)) * dot(i, p.n + j);
          store_from_double(p.c, p.c_dtype, i * p.n + j, p.row_scale ? v * p.row_scale[i] : v);
        }
      }
    });
    return;
  }
  const int64_t tiles = (p.n + B_TILE_ROWS - 1) / B_TILE_ROWS;
  parallel_for(tiles, 1, [&](int64_t t0, int64_t t1) {
    std::vector<double> b(static_cast<size_t>(B_TILE_ROWS * p.k));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n0 = t * B_TILE_ROWS;
      const int64_t n1 = std::min(p.n, n0 + B_TILE_ROWS);
      for (int64_t j = n0; j < n1; ++j) {
        for (int64_t kk = 0; kk < p.k; ++kk) b[static_cast<size_t>((j - n0) * p.k + kk)] = load_as_double(p.b, p.ab_dtype, j * p.k + kk);
      }
      for (int64_t i = 0; i < p.m; ++i) {
        const double* ai = &a[static_cast<size_t>(i * p.k)];
        for (int64_t j = n0; j < n1; ++j) {
          const double* bj = &b[static_cast<size_t>((j - n0) * p.k)];
          double acc = 0.0;
          for (int64_t kk = 0; kk < p.k; ++kk) acc += ai[kk] * bj[kk];
          store_from_double(p.c, p.c_dtype, i * p.n + j, p.row_scale ? acc * p.row_scale[i] : acc);
        }
      }
    }
  });
}

}  // namespace moekit
