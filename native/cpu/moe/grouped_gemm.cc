// moe.groupedGemm on the CPU: the reference for every grouped version. It
// reads the expert layout itself (not through the kernels' tile
// scheduler) and runs the CPU gemm / fp8Gemm once per expert on that
// expert's rows and weights. Offsets and counts are clamped as the kernels
// clamp them (expert_groups.h), so no value reads or writes outside the
// buffers; the output was zero-filled before the call.
#include "../../ops/moe/grouped_gemm.h"

#include <algorithm>
#include <cstdint>

#include "../../common/dtype.h"
#include "../../common/fp8_block.h"
#include "../../common/math.h"

namespace moekit {

namespace {

// Rows [start, end) of A and C that expert e computes.
struct Rows {
  int64_t start;
  int64_t end;
};

Rows expert_rows(const ExpertGroups& g, int64_t m, int64_t e) {
  const auto clamp = [](int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); };
  if (g.layout == GroupLayout::Masked) {
    const int64_t start = e * g.max_rows;
    return Rows{start, start + clamp(g.counts[e], 0, g.max_rows)};
  }
  const int64_t start = clamp(g.offsets[e], 0, m);
  int64_t end = clamp(g.offsets[e + 1], start, m);
  if (g.counts) end = start + clamp(g.counts[e], 0, end - start);
  return Rows{start, end};
}

}  // namespace

void grouped_gemm_cpu(const GroupedGemmParams& p) {
  if (p.fp8) {
    const Fp8GemmParams& g = p.fp8_gemm;
    const int64_t b_rows = g.gated ? 2 * g.n : g.n;
    const int64_t scale_rows = ceil_div<int64_t>(b_rows, FP8_SCALE_BLOCK);
    for (int64_t e = 0; e < g.groups.experts; ++e) {
      const Rows r = expert_rows(g.groups, g.m, e);
      if (r.end <= r.start) continue;
      Fp8GemmParams one = g;
      one.groups = ExpertGroups{};
      one.a = g.a + r.start * g.k;
      one.a_scales = g.a_scales + r.start * g.scale_k;
      one.b = g.b + e * b_rows * g.k;
      one.b_scales = g.b_scales + e * scale_rows * g.scale_k;
      one.c = static_cast<uint8_t*>(g.c) + r.start * g.n * dtype_size(g.c_dtype);
      one.m = r.end - r.start;
      one.row_scale = g.row_scale ? g.row_scale + r.start : nullptr;
      fp8_gemm_cpu(one);
    }
    return;
  }
  const GemmParams& g = p.gemm;
  const int64_t ab = dtype_size(g.ab_dtype);
  const int64_t b_rows = g.gated ? 2 * g.n : g.n;
  for (int64_t e = 0; e < g.groups.experts; ++e) {
    const Rows r = expert_rows(g.groups, g.m, e);
    if (r.end <= r.start) continue;
    GemmParams one = g;
    one.groups = ExpertGroups{};
    one.a = static_cast<const uint8_t*>(g.a) + r.start * g.k * ab;
    one.b = static_cast<const uint8_t*>(g.b) + e * b_rows * g.k * ab;
    one.c = static_cast<uint8_t*>(g.c) + r.start * g.n * dtype_size(g.c_dtype);
    one.m = r.end - r.start;
    one.row_scale = g.row_scale ? g.row_scale + r.start : nullptr;
    gemm_cpu(one);
  }
}

}  // namespace moekit
