// Checks native/common/expert_layout.h: for small shapes, every routing's
// padded row count stays within contiguous_rows_worst_case, and some routing
// reaches it (so the bound is the worst case, not just a bound); overflow is
// reported. Routings are drawn at random (seeded by MOEKIT_TEST_SEED) plus
// the one built to reach the bound. Exit status 0 means all held.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "../../native/common/expert_layout.h"

namespace {

int failures = 0;

void expect(bool ok, const char* what, long long a, long long b, long long c, long long d) {
  if (ok) return;
  if (++failures <= 10) std::fprintf(stderr, "FAIL %s (tokens %lld, top_k %lld, experts %lld, align %lld)\n", what, a, b, c, d);
}

// Rows the contiguous layout needs for per-expert counts `counts`.
int64_t padded_total(const std::vector<int64_t>& counts, int64_t align) {
  int64_t total = 0;
  for (int64_t c : counts) total += c == 0 ? 0 : moekit::padded_rows(c, align);
  return total;
}

}  // namespace

int main() {
  const char* seed_text = std::getenv("MOEKIT_TEST_SEED");
  const unsigned seed = seed_text ? static_cast<unsigned>(std::strtoul(seed_text, nullptr, 10)) : 1u;
  std::mt19937 rng(seed);
  for (int64_t tokens = 0; tokens <= 9; ++tokens) {
    for (int64_t experts = 1; experts <= 12; ++experts) {
      for (int64_t top_k = 1; top_k <= std::min<int64_t>(experts, 4); ++top_k) {
        for (int64_t align : {1, 2, 4, 8}) {
          int64_t bound = 0;
          expect(moekit::contiguous_rows_worst_case(tokens, top_k, experts, align, &bound), "no bound", tokens, top_k, experts, align);
          // Random routings: each token picks top_k distinct experts.
          for (int trial = 0; trial < 50; ++trial) {
            std::vector<int64_t> counts(static_cast<size_t>(experts), 0);
            for (int64_t t = 0; t < tokens; ++t) {
              std::vector<int64_t> ids(static_cast<size_t>(experts));
              for (int64_t e = 0; e < experts; ++e) ids[static_cast<size_t>(e)] = e;
              std::shuffle(ids.begin(), ids.end(), rng);
              for (int64_t k = 0; k < top_k; ++k) ++counts[static_cast<size_t>(ids[static_cast<size_t>(k)])];
            }
            expect(padded_total(counts, align) <= bound, "a routing exceeds the bound", tokens, top_k, experts, align);
            for (int64_t c : counts) expect(c <= moekit::masked_rows_worst_case(tokens), "an expert exceeds the masked bound", tokens, top_k, experts, align);
          }
          // The routing that reaches the bound: picks spread round-robin, so
          // as many experts as possible are used; with align > 1 their counts
          // are then all 1 when picks <= experts. Beyond that the bound is
          // reached only when counts are 1 mod align: check it is not
          // exceeded, and reached when picks <= experts.
          const int64_t picks = tokens * top_k;
          if (picks <= experts) {
            std::vector<int64_t> counts(static_cast<size_t>(experts), 0);
            for (int64_t i = 0; i < picks; ++i) ++counts[static_cast<size_t>(i)];
            expect(padded_total(counts, align) == bound, "the bound is not reached", tokens, top_k, experts, align);
          }
        }
      }
    }
  }
  int64_t rows = 0;
  expect(!moekit::contiguous_rows_worst_case(int64_t{1} << 40, int64_t{1} << 30, 256, 128, &rows), "overflow not reported", 1, 1, 1, 1);
  expect(!moekit::contiguous_rows_worst_case(-1, 8, 256, 128, &rows), "a negative size accepted", -1, 8, 256, 128);
  expect(moekit::contiguous_rows_worst_case(4096, 8, 256, 128, &rows) && rows == 4096 * 8 + 256 * 127, "DeepSeek-V3 prefill", 4096, 8, 256, 128);
  if (failures) {
    std::fprintf(stderr, "%d failures (seed %u; rerun with MOEKIT_TEST_SEED=%u)\n", failures, seed, seed);
    return 1;
  }
  std::printf("expert layout bounds hold (seed %u)\n", seed);
  return 0;
}
