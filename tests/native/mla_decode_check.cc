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
//     lies outside [0, blocks · pageSize);
//   - the keys visible to a query row (mla_visible_keys), recomputed from
//     the definition: all L, or causal (bottom-right) up to L - Sq + token;
//   - v2's split of a tile over its warps (cuda/mla/decode_config_v2.h):
//     the m16n8 score fragments cover every (row, key) of the tile once,
//     the output fragments every (row, column) once, each warp's columns
//     lie in one e4m3 scale block, and the softmax rows cover the tile once.
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
#include "../../cuda/mla/decode_config_v2.h"
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
  for (int block_n : {1, MLA_DECODE_V1_BLOCK_N, 16, mla_decode_v2_config::BLOCK_N, 64}) {
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

  // Visible keys of a query row.
  for (int i = 0; i < cases; ++i) {
    const int heads = static_cast<int>(uniform(1, 130));
    const int q_len = static_cast<int>(uniform(1, 8));
    const int64_t len = uniform(0, 300);
    const bool causal = uniform(0, 1) == 1;
    const int64_t row = uniform(0, int64_t{heads} * q_len - 1);
    const int64_t token = row / heads;
    int64_t want = 0;
    for (int64_t t = 0; t < len; ++t) {
      if (!causal || t <= len - q_len + token) want = t + 1;  // keys are visible from 0 up to the last visible one
    }
    const int64_t got = mla_visible_keys(row, heads, q_len, len, causal);
    if (got != want) fail("visible keys of row " + std::to_string(row) + " (H " + std::to_string(heads) + ", Sq " + std::to_string(q_len) + ", L " +
                          std::to_string(len) + (causal ? ", causal" : "") + "): " + std::to_string(got) + ", want " + std::to_string(want));
  }

  // v2: which fragment of a tile each warp and lane computes.
  {
    namespace v2 = mla_decode_v2_config;
    std::vector<int> scores(v2::BLOCK_M * v2::BLOCK_N, 0);
    std::vector<int> outputs(v2::BLOCK_M * MLA_LATENT, 0);
    std::vector<int> softmax(v2::BLOCK_M, 0);
    for (int warp = 0; warp < v2::NUM_WARPS; ++warp) {
      const RowCol st = v2::s_tile_of(warp);
      const int col0 = v2::o_col0_of(warp);
      if (col0 / v2::LATENT_BLOCK != (col0 + v2::O_COLS_PER_WARP - 1) / v2::LATENT_BLOCK || v2::o_scale_block_of(warp) != col0 / v2::LATENT_BLOCK) {
        fail("v2 warp " + std::to_string(warp) + "'s output columns straddle e4m3 scale blocks");
      }
      for (int r = 0; r < v2::SOFTMAX_ROWS; ++r) {
        const int row = v2::softmax_row0_of(warp) + r;
        if (row < 0 || row >= v2::BLOCK_M) fail("v2 softmax row outside the tile");
        else ++softmax[static_cast<size_t>(row)];
      }
      for (int lane = 0; lane < WARP_SIZE; ++lane) {
        for (int e = 0; e < 4; ++e) {
          const RowCol c = mma_c_coord(lane, e);
          const int sr = st.row + c.row;
          const int sn = st.col + c.col;
          if (sr < 0 || sr >= v2::BLOCK_M || sn < 0 || sn >= v2::BLOCK_N) fail("v2 score fragment outside the tile");
          else ++scores[static_cast<size_t>(sr * v2::BLOCK_N + sn)];
          for (int i = 0; i < v2::M_FRAGS; ++i) {
            for (int j = 0; j < v2::O_N_FRAGS; ++j) {
              const int orow = i * MMA_M + c.row;
              const int ocol = col0 + j * MMA_N + c.col;
              if (orow >= v2::BLOCK_M || ocol >= MLA_LATENT) fail("v2 output fragment outside the tile");
              else ++outputs[static_cast<size_t>(orow * MLA_LATENT + ocol)];
            }
          }
        }
      }
    }
    if (std::any_of(scores.begin(), scores.end(), [](int n) { return n != 1; })) fail("v2 score fragments do not cover the tile exactly once");
    if (std::any_of(outputs.begin(), outputs.end(), [](int n) { return n != 1; })) fail("v2 output fragments do not cover the tile exactly once");
    if (std::any_of(softmax.begin(), softmax.end(), [](int n) { return n != 1; })) fail("v2 softmax rows do not cover the tile exactly once");
  }

  if (g_failures) {
    std::fprintf(stderr, "%d failures (seed %llu)\n", g_failures, static_cast<unsigned long long>(g_seed));
    return 1;
  }
  std::printf("mla decode schedule and page addressing: ok (seed %llu)\n", static_cast<unsigned long long>(g_seed));
  return 0;
}
