// moe.permute on the CPU: the reference for cuda/moe/permute_v1.cu (see
// native/ops/moe/permute.h): count, prefix sum of the padded counts, then
// the picks in order, each taking the next row of its expert.
#include "../../ops/moe/permute.h"

#include <cstddef>
#include <vector>

namespace moekit {

void permute_cpu(const PermuteParams& p) {
  const int64_t picks = p.tokens * p.top_k;
  const int E = p.experts;
  for (int64_t r = 0; r < p.rows; ++r) p.row_ids[r] = -1;
  for (int e = 0; e < E; ++e) p.counts[e] = 0;
  for (int64_t i = 0; i < picks; ++i) {
    const int32_t e = p.ids[i];
    if (e >= 0 && e < E) ++p.counts[e];
  }
  std::vector<int64_t> next(static_cast<std::size_t>(E));
  int64_t offset = 0;
  for (int e = 0; e < E; ++e) {
    p.offsets[e] = static_cast<int32_t>(offset);
    next[static_cast<std::size_t>(e)] = offset;
    offset += (p.counts[e] + p.align - 1) / p.align * static_cast<int64_t>(p.align);
  }
  p.offsets[E] = static_cast<int32_t>(offset);
  for (int64_t i = 0; i < picks; ++i) {
    const int32_t e = p.ids[i];
    if (e < 0 || e >= E) {
      p.inverse[i] = -1;
      continue;
    }
    const int64_t row = next[static_cast<std::size_t>(e)]++;
    p.row_ids[row] = static_cast<int32_t>(i);
    p.inverse[i] = static_cast<int32_t>(row);
  }
}

}  // namespace moekit
