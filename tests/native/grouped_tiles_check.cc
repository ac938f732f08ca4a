// Checks the grouped tile schedulers of moe.groupedGemm (cuda/common/
// grouped_tiles.h through GroupedTileScheduler and sm90::
// GroupedPersistentScheduler), walked as the kernels walk them, over seeded
// random expert layouts: ragged and empty experts, all rows on one expert,
// padded segments with and without counts, rows past offsets[E], masked
// slots with counts past the slot; for the tile sizes of every GEMM path.
//   - every output element of every expert's computed rows is in exactly
//     one tile, and nothing else is;
//   - a tile never straddles two experts: its rows [a_row0, a_rows) lie in
//     one expert's computed rows, its B rows are that expert's weights
//     (b_row0 = e * n + c_col0, b_rows = (e + 1) * n) and its B scale row
//     is e * ceil(n / 128) + c_col0 / 128;
//   - offsets and counts outside the contract never place a tile's rows
//     outside [0, m).
// The expected rows come from the layout's definition here, not from the
// header. Run by tests/native/host_checks.test.ts (built into build/checks/).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "check_options.h"
#include "../../native/common/math.h"
#include "../../native/ops/gemm/fp8_gemm.h"
#include "../../cuda/common/sm90/tile_scheduler.h"
#include "../../cuda/common/tile_scheduler.h"

using namespace moekit;

namespace {

int g_failures = 0;
uint64_t g_seed = 0;

void fail(const char* what, const char* detail) {
  if (++g_failures <= 20) std::fprintf(stderr, "FAIL %s (seed %llu): %s\n", what, static_cast<unsigned long long>(g_seed), detail);
}

struct Layout {
  ExpertGroups groups;
  std::vector<int32_t> offsets;
  std::vector<int32_t> counts;
  int64_t m;
  // Per expert: the rows computed, [start, end).
  std::vector<int64_t> start, end;
};

Layout contiguous(const std::vector<int32_t>& counts, int align, bool with_counts, int64_t spare) {
  Layout l;
  const int experts = static_cast<int>(counts.size());
  l.counts = counts;
  l.offsets.assign(static_cast<size_t>(experts) + 1, 0);
  for (int e = 0; e < experts; ++e) {
    const int32_t seg = (counts[e] + align - 1) / align * align;
    l.offsets[e + 1] = l.offsets[e] + seg;
    l.start.push_back(l.offsets[e]);
    l.end.push_back(l.offsets[e] + (with_counts ? counts[e] : seg));
  }
  l.m = l.offsets[experts] + spare;
  l.groups.layout = GroupLayout::Contiguous;
  l.groups.offsets = l.offsets.data();
  l.groups.counts = with_counts ? l.counts.data() : nullptr;
  l.groups.experts = experts;
  return l;
}

Layout masked(const std::vector<int32_t>& counts, int64_t max_rows) {
  Layout l;
  const int experts = static_cast<int>(counts.size());
  l.counts = counts;
  for (int e = 0; e < experts; ++e) {
    l.start.push_back(e * max_rows);
    l.end.push_back(e * max_rows + std::min<int64_t>(std::max(counts[e], 0), max_rows));
  }
  l.m = experts * max_rows;
  l.groups.layout = GroupLayout::Masked;
  l.groups.counts = l.counts.data();
  l.groups.experts = experts;
  l.groups.max_rows = max_rows;
  return l;
}

// Walks `tiles` (every index a block of some grid takes) and checks them.
template <typename Scheduler>
void check(const char* name, const Layout& l, int64_t n, int block_m, int block_n) {
  Fp8GemmParams p{};
  p.m = l.m;
  p.n = n;
  p.groups = l.groups;
  const Scheduler s(p);
  std::vector<uint8_t> hits(static_cast<size_t>(l.m * n), 0);
  char buf[256];
  for (int64_t i = 0; i < s.num_tiles(); ++i) {
    const GemmTile t = s.tile(i);
    if (t.empty()) continue;
    if (t.a_row0 < 0 || t.a_rows > l.m) {
      std::snprintf(buf, sizeof buf, "tile %lld rows [%lld, %lld) outside [0, %lld)", static_cast<long long>(i), static_cast<long long>(t.a_row0),
                    static_cast<long long>(t.a_rows), static_cast<long long>(l.m));
      return fail(name, buf);
    }
    // The expert whose computed rows hold the tile's first row.
    int e = -1;
    for (size_t x = 0; x < l.start.size(); ++x) {
      if (t.a_row0 >= l.start[x] && t.a_row0 < l.end[x]) e = static_cast<int>(x);
    }
    if (e < 0 || t.a_rows != l.end[static_cast<size_t>(e)] || (t.a_row0 - l.start[static_cast<size_t>(e)]) % block_m != 0) {
      std::snprintf(buf, sizeof buf, "tile %lld rows [%lld, %lld) are not a block_m step of one expert's computed rows", static_cast<long long>(i),
                    static_cast<long long>(t.a_row0), static_cast<long long>(t.a_rows));
      return fail(name, buf);
    }
    if (t.c_col0 < 0 || t.c_col0 >= n || t.c_col0 % block_n != 0 || t.b_row0 != e * n + t.c_col0 || t.b_rows != (e + 1) * n ||
        t.b_scale_row != e * ceil_div<int64_t>(n, 128) + t.c_col0 / 128) {
      std::snprintf(buf, sizeof buf, "tile %lld of expert %d: columns or B rows wrong (c_col0 %lld, b_row0 %lld, b_rows %lld, b_scale_row %lld)",
                    static_cast<long long>(i), e, static_cast<long long>(t.c_col0), static_cast<long long>(t.b_row0),
                    static_cast<long long>(t.b_rows), static_cast<long long>(t.b_scale_row));
      return fail(name, buf);
    }
    const int64_t rows_end = std::min<int64_t>(t.a_row0 + block_m, t.a_rows);
    const int64_t cols_end = std::min<int64_t>(t.c_col0 + block_n, n);
    for (int64_t r = t.a_row0; r < rows_end; ++r) {
      for (int64_t c = t.c_col0; c < cols_end; ++c) ++hits[static_cast<size_t>(r * n + c)];
    }
  }
  std::vector<uint8_t> want(hits.size(), 0);
  for (size_t e = 0; e < l.start.size(); ++e) {
    for (int64_t r = l.start[e]; r < l.end[e]; ++r) std::fill_n(want.begin() + r * n, n, uint8_t{1});
  }
  for (size_t x = 0; x < hits.size(); ++x) {
    if (hits[x] != want[x]) {
      std::snprintf(buf, sizeof buf, "m=%lld n=%lld: output (%lld, %lld) computed %d times, expected %d", static_cast<long long>(l.m),
                    static_cast<long long>(n), static_cast<long long>(x / n), static_cast<long long>(x % n), hits[x], want[x]);
      return fail(name, buf);
    }
  }
}

void check_all(const Layout& l, int64_t n) {
  check<GroupedTileScheduler<64, 64, 8>>("one-tile-per-block 64x64 (v1)", l, n, 64, 64);
  check<GroupedTileScheduler<128, 128, 8>>("one-tile-per-block 128x128 (v2)", l, n, 128, 128);
  check<sm90::GroupedPersistentScheduler<128, 128, 16>>("persistent 128x128 (v3 large)", l, n, 128, 128);
  check<sm90::GroupedPersistentScheduler<64, 32, 16>>("persistent 64x32 (v3 small)", l, n, 64, 32);
}

// Garbage offsets and counts: every non-empty tile's rows stay in [0, m).
void check_garbage(std::mt19937_64& rng) {
  std::uniform_int_distribution<int32_t> any(-1000, 1000);
  Layout l;
  const int experts = 1 + static_cast<int>(rng() % 20);
  for (int e = 0; e <= experts; ++e) l.offsets.push_back(any(rng));
  for (int e = 0; e < experts; ++e) l.counts.push_back(any(rng));
  l.m = 1 + static_cast<int64_t>(rng() % 500);
  l.groups.layout = GroupLayout::Contiguous;
  l.groups.offsets = l.offsets.data();
  l.groups.counts = rng() % 2 ? l.counts.data() : nullptr;
  l.groups.experts = experts;
  Fp8GemmParams p{};
  p.m = l.m;
  p.n = 100;
  p.groups = l.groups;
  const GroupedTileScheduler<64, 64, 8> s(p);
  for (int64_t i = 0; i < s.num_tiles(); ++i) {
    const GemmTile t = s.tile(i);
    if (t.empty()) continue;
    if (t.a_row0 < 0 || t.a_rows > l.m || t.b_row0 < 0 || t.b_rows > experts * p.n) return fail("garbage offsets", "a tile reaches outside A, B or C");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const CheckOptions o = check_options(argc, argv, 20261130);
  g_seed = o.seed;
  std::mt19937_64 rng(o.seed);
  std::printf("grouped tiles check, seed %llu\n", static_cast<unsigned long long>(o.seed));

  check_all(contiguous({3, 0, 130, 1}, 1, true, 0), 64);
  check_all(contiguous({0, 0, 0, 300, 0}, 1, true, 0), 200);
  check_all(contiguous({1, 1, 0, 1, 1, 1, 0, 1, 1, 1}, 1, true, 0), 7168);
  check_all(contiguous({5, 0, 17, 64, 1}, 128, true, 77), 100);
  check_all(contiguous({5, 0, 17, 64, 1}, 16, false, 3), 129);
  check_all(contiguous({0, 0, 0}, 4, true, 10), 32);
  check_all(masked({0, 17, 3, 1, 9, 99, -3}, 17), 48);
  check_all(masked({64, 65, 128, 0}, 200), 256);

  const int cases = o.quick ? 60 : 600;
  for (int c = 0; c < cases; ++c) {
    const int experts = 1 + static_cast<int>(rng() % 64);
    const int skew = static_cast<int>(rng() % 3);
    std::vector<int32_t> counts(static_cast<size_t>(experts));
    for (auto& x : counts) x = skew == 0 ? static_cast<int32_t>(rng() % 9) : skew == 1 ? static_cast<int32_t>(rng() % 300) : (rng() % 8 ? 0 : 500);
    const int64_t n = 1 + static_cast<int64_t>(rng() % 300);
    const int align = 1 << (rng() % 8);
    check_all(contiguous(counts, align, rng() % 2, static_cast<int64_t>(rng() % 100)), n);
    check_all(masked(counts, 1 + static_cast<int64_t>(rng() % 200)), n);
    check_garbage(rng);
  }
  if (g_failures) {
    std::fprintf(stderr, "%d failures\n", g_failures);
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
