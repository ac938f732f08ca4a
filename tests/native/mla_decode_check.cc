// Checks the split-KV schedule and the page addressing of mla.decode's and
// mla.append's CUDA kernels (cuda/mla/paged_kv.h) on the CPU, over seeded
// random lengths, split counts, page sizes and shuffled block tables:
//   - the splits of a sequence read every key in [0, L) exactly once and
//     nothing else; every split but the one holding the end starts on a
//     multiple of the tile; at most one split holds a partial tile;
//   - the split count lies in [1, MLA_MAX_SPLITS], and every split is given
//     at least MLA_SPLIT_MIN_KEYS keys of the capacity when more than one;
//   - lengths are clamped into [0, capacity];
//   - a position's cache row is page · pageSize + slot of the table's page,
//     recomputed here from the definition; positions past the table and
//     page ids outside [0, blocks) give -1 (masked), and no row returned
//     lies outside [0, blocks · pageSize).
// Run by tests/native/host_checks.test.ts (built into build/checks/).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "check_options.h"
#include "../../cuda/mla/decode_config_v1.h"
#include "../../cuda/mla/paged_kv.h"

using namespace moekit;

namespace {

int g_failures = 0;
uint64_t g_seed = 0;

void fail(const std::string& what) {
  if (++g_failures <= 20) std::fprintf(stderr, "FAIL (seed %llu): %s\n", static_cast<unsigned long long>(g_seed), what.c_str());
}

void check_splits(int64_t len, int splits, int block_n) {
  std::vector<int> reads(static_cast<size_t>(len), 0);
  int partial_tiles = 0;
  for (int s = 0; s < splits; ++s) {
    const MlaKeyRange r = mla_split_keys(len, splits, s, block_n);
    if (r.begin < 0 || r.end > len) fail("split outside [0, len): len " + std::to_string(len) + " split " + std::to_string(s));
    if (r.begin < r.end && r.end < len && r.begin % block_n != 0) fail("split does not start on a tile: len " + std::to_string(len));
    if (r.begin < r.end && (r.end - r.begin) % block_n != 0) ++partial_tiles;
    for (int64_t t = r.begin; t < r.end; ++t) ++reads[static_cast<size_t>(t)];
  }
  if (partial_tiles > 1) fail("more than one partial tile: len " + std::to_string(len) + " splits " + std::to_string(splits));
  for (int64_t t = 0; t < len; ++t) {
    if (reads[static_cast<size_t>(t)] != 1) {
      fail("key " + std::to_string(t) + " of " + std::to_string(len) + " read " + std::to_string(reads[static_cast<size_t>(t)]) + " times over " +
           std::to_string(splits) + " splits of tile " + std::to_string(block_n));
      return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const CheckOptions opts = check_options(argc, argv, 20260301);
  g_seed = opts.seed;
  std::mt19937_64 rng(opts.seed);
  auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const int cases = opts.quick ? 3000 : 30000;

  // Split ranges, exhaustively for short sequences, then at random.
  for (int block_n : {1, MLA_DECODE_V1_BLOCK_N, 16, 64}) {
    for (int64_t len = 0; len <= 300; ++len) {
      for (int splits = 1; splits <= 12; ++splits) check_splits(len, splits, block_n);
    }
  }
  for (int i = 0; i < cases; ++i) check_splits(uniform(0, 200000), static_cast<int>(uniform(1, MLA_MAX_SPLITS)), MLA_DECODE_V1_BLOCK_N);

  // The split count.
  for (int i = 0; i < cases; ++i) {
    const int64_t batch = uniform(0, 300);
    const int64_t groups = uniform(0, 70);
    const int64_t capacity = uniform(0, 1 << 20);
    const int sms = static_cast<int>(uniform(0, 200));
    const int s = mla_decode_splits(batch, groups, capacity, sms);
    if (s < 1 || s > MLA_MAX_SPLITS) fail("split count " + std::to_string(s) + " outside [1, MLA_MAX_SPLITS]");
    if (s > 1 && capacity / s < MLA_SPLIT_MIN_KEYS - 1 && (capacity + s - 1) / s < MLA_SPLIT_MIN_KEYS) {
      fail("splits of fewer than MLA_SPLIT_MIN_KEYS keys: capacity " + std::to_string(capacity) + " splits " + std::to_string(s));
    }
    if (batch * groups > 0 && s > 1 && batch * groups * (s - 1) >= 2 * static_cast<int64_t>(std::max(sms, 1))) {
      fail("more splits than two waves need: " + std::to_string(s));
    }
  }

  // Clamped lengths.
  for (int64_t len : {int64_t{-5}, int64_t{-1}, int64_t{0}, int64_t{7}, int64_t{64}, int64_t{65}, int64_t{1000}}) {
    const int64_t c = mla_clamped_length(len, 64);
    if (c != std::min<int64_t>(std::max<int64_t>(len, 0), 64)) fail("clamped length of " + std::to_string(len));
  }

  // Page addressing over shuffled tables with bad entries.
  for (int i = 0; i < (opts.quick ? 300 : 3000); ++i) {
    const int page_size = static_cast<int>(std::vector<int64_t>{1, 3, 16, 32, 64}[static_cast<size_t>(uniform(0, 4))]);
    const int64_t blocks = uniform(1, 40);
    const int max_pages = static_cast<int>(uniform(1, 12));
    std::vector<int32_t> table(static_cast<size_t>(max_pages));
    for (auto& page : table) {
      const int64_t kind = uniform(0, 9);
      page = kind == 0 ? -1 : kind == 1 ? static_cast<int32_t>(blocks) : kind == 2 ? INT32_MAX : static_cast<int32_t>(uniform(0, blocks - 1));
    }
    for (int64_t t = -2; t < int64_t{max_pages} * page_size + 5; ++t) {
      const int64_t row = mla_cache_row(table.data(), max_pages, page_size, blocks, t);
      int64_t want = -1;
      if (t >= 0 && t / page_size < max_pages) {
        const int32_t page = table[static_cast<size_t>(t / page_size)];
        if (page >= 0 && page < blocks) want = int64_t{page} * page_size + t % page_size;
      }
      if (row != want) fail("cache row of position " + std::to_string(t) + ": " + std::to_string(row) + ", want " + std::to_string(want));
      if (row < -1 || row >= blocks * page_size) fail("cache row outside the cache");
    }
  }

  if (g_failures) {
    std::fprintf(stderr, "%d failures (seed %llu)\n", g_failures, static_cast<unsigned long long>(g_seed));
    return 1;
  }
  std::printf("mla decode schedule and page addressing: ok (seed %llu)\n", static_cast<unsigned long long>(g_seed));
  return 0;
}
