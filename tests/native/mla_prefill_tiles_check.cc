// Checks the tile scheduler of mla.prefill v1 (cuda/mla/prefill_tiles.h),
// walked as the kernel walks it: every number below prefill_query_tiles(),
// each non-empty query tile's key tiles of BLOCK_N, and inside them the
// kernel's mask. Over seeded random cuSeqLens (ragged, zero-length and
// length-1 sequences, one long sequence) for causal and non-causal
// attention, with the tile sizes of v1 and a few others:
//   - every query token is in exactly one query tile, of its own sequence;
//   - every (query, key) pair the mask allows (same sequence; key <= query
//     when causal, top-left aligned) is visited exactly once, and no pair
//     outside the mask is counted as visible;
//   - garbage cuSeqLens (negative, decreasing, past T) never place a query
//     or key outside [0, T).
// The expected pairs come from the sequences' definition here, not from
// the header. Run by tests/native/host_checks.test.ts (built into build/checks/).
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "check_options.h"
#include "../../cuda/mla/prefill_config_v1.h"
#include "../../cuda/mla/prefill_tiles.h"

using namespace moekit;

namespace {

int g_failures = 0;
uint64_t g_seed = 0;

void fail(const std::string& what) {
  if (++g_failures <= 20) std::fprintf(stderr, "FAIL (seed %llu): %s\n", static_cast<unsigned long long>(g_seed), what.c_str());
}

std::string describe(const std::vector<int32_t>& cu, bool causal, int64_t bm, int64_t bn) {
  std::string s = "cuSeqLens [";
  for (size_t i = 0; i < cu.size() && i < 12; ++i) s += (i ? "," : "") + std::to_string(cu[i]);
  return s + (cu.size() > 12 ? ",...]" : "]") + (causal ? " causal" : " full") + " tiles " + std::to_string(bm) + "x" + std::to_string(bn);
}

// Walks the schedule for a valid cuSeqLens and compares with the definition.
void check_valid(const std::vector<int32_t>& cu, bool causal, int64_t bm, int64_t bn) {
  const int32_t seqs = static_cast<int32_t>(cu.size()) - 1;
  const int64_t T = cu.back();
  std::vector<int32_t> seq_of(static_cast<size_t>(T));
  for (int32_t b = 0; b < seqs; ++b) {
    for (int64_t t = cu[b]; t < cu[b + 1]; ++t) seq_of[static_cast<size_t>(t)] = b;
  }
  std::vector<int> query_seen(static_cast<size_t>(T), 0);
  std::vector<int> pair_seen(static_cast<size_t>(T * T), 0);
  const int64_t tiles = prefill_query_tiles(T, seqs, bm);
  for (int64_t i = 0; i < tiles; ++i) {
    const PrefillTile tile = prefill_tile(cu.data(), seqs, T, bm, causal, i);
    if (tile.q0 >= tile.q1) continue;
    if (tile.q1 - tile.q0 > bm) fail(describe(cu, causal, bm, bn) + ": a tile of more than block_m queries");
    for (int64_t q = tile.q0; q < tile.q1; ++q) {
      if (q < 0 || q >= T) {
        fail(describe(cu, causal, bm, bn) + ": query " + std::to_string(q) + " outside [0, T)");
        return;
      }
      ++query_seen[static_cast<size_t>(q)];
      if (seq_of[static_cast<size_t>(q)] != tile.seq) fail(describe(cu, causal, bm, bn) + ": query " + std::to_string(q) + " in a tile of another sequence");
    }
    if (tile.start != cu[tile.seq] || tile.end != cu[tile.seq + 1]) fail(describe(cu, causal, bm, bn) + ": a tile with the wrong sequence bounds");
    const int64_t kts = prefill_key_tiles(tile, bn);
    for (int64_t kt = 0; kt < kts; ++kt) {
      for (int64_t k = tile.start + kt * bn; k < tile.start + (kt + 1) * bn; ++k) {
        for (int64_t q = tile.q0; q < tile.q1; ++q) {
          if (!prefill_visible(tile, causal, q, k)) continue;
          if (k < 0 || k >= T) {
            fail(describe(cu, causal, bm, bn) + ": visible key " + std::to_string(k) + " outside [0, T)");
            return;
          }
          ++pair_seen[static_cast<size_t>(q * T + k)];
        }
      }
    }
  }
  for (int64_t q = 0; q < T; ++q) {
    if (query_seen[static_cast<size_t>(q)] != 1) fail(describe(cu, causal, bm, bn) + ": query " + std::to_string(q) + " in " + std::to_string(query_seen[static_cast<size_t>(q)]) + " tiles");
    const int32_t b = seq_of[static_cast<size_t>(q)];
    for (int64_t k = 0; k < T; ++k) {
      const bool allowed = seq_of[static_cast<size_t>(k)] == b && (!causal || k <= q);
      const int seen = pair_seen[static_cast<size_t>(q * T + k)];
      if (seen != (allowed ? 1 : 0)) {
        fail(describe(cu, causal, bm, bn) + ": pair (" + std::to_string(q) + ", " + std::to_string(k) + ") visited " + std::to_string(seen) + " times, expected " + (allowed ? "1" : "0"));
        return;
      }
    }
  }
}

// Garbage cuSeqLens: every query a tile names and every key it may read lie in [0, T).
void check_garbage(std::mt19937_64& rng) {
  const int32_t seqs = 1 + static_cast<int32_t>(rng() % 9);
  const int64_t T = static_cast<int64_t>(rng() % 200);
  std::vector<int32_t> cu(static_cast<size_t>(seqs) + 1);
  for (auto& x : cu) {
    const int kind = static_cast<int>(rng() % 5);
    x = kind == 0 ? -static_cast<int32_t>(rng() % 1000) : kind == 1 ? static_cast<int32_t>(T + rng() % 1000) : kind == 2 ? INT32_MIN : kind == 3 ? INT32_MAX : static_cast<int32_t>(rng() % (T + 1));
  }
  for (const bool causal : {false, true}) {
    const int64_t tiles = prefill_query_tiles(T, seqs, mla_prefill_v1_config::BLOCK_M);
    for (int64_t i = 0; i < tiles; ++i) {
      const PrefillTile t = prefill_tile(cu.data(), seqs, T, mla_prefill_v1_config::BLOCK_M, causal, i);
      if (t.q0 >= t.q1) continue;
      const int64_t k_last = t.start + prefill_key_tiles(t, mla_prefill_v1_config::BLOCK_N) * mla_prefill_v1_config::BLOCK_N;
      // The kernel reads key rows start .. min(k_last, end) - 1 (the rest are zero-filled) and writes queries q0 .. q1 - 1.
      const bool ok = t.q0 >= 0 && t.q1 <= T && t.start >= 0 && t.end <= T && t.start <= t.end && (k_last <= t.start || t.start < T);
      if (!ok) fail(describe(cu, causal, 64, 32) + " (garbage): a tile outside [0, T)");
    }
  }
}

std::vector<int32_t> cu_of(const std::vector<int32_t>& lens) {
  std::vector<int32_t> cu{0};
  for (const int32_t l : lens) cu.push_back(cu.back() + l);
  return cu;
}

}  // namespace

int main(int argc, char** argv) {
  const CheckOptions o = check_options(argc, argv, 7);
  g_seed = o.seed;
  std::mt19937_64 rng(o.seed);
  std::printf("mla prefill tiles check, seed %llu\n", static_cast<unsigned long long>(o.seed));
  const int64_t bm = mla_prefill_v1_config::BLOCK_M;
  const int64_t bn = mla_prefill_v1_config::BLOCK_N;
  const std::vector<std::vector<int32_t>> fixed = {{}, {0}, {1}, {5, 0, 1, 70}, {0, 0, 0}, {64}, {65}, {63, 1, 64, 129, 0, 2}, {200}};
  for (const bool causal : {false, true}) {
    for (const auto& lens : fixed) {
      check_valid(cu_of(lens), causal, bm, bn);
      check_valid(cu_of(lens), causal, 16, 16);
      check_valid(cu_of(lens), causal, 128, 64);
    }
  }
  const int cases = o.quick ? 40 : 400;
  for (int c = 0; c < cases; ++c) {
    const int seqs = 1 + static_cast<int>(rng() % 12);
    std::vector<int32_t> lens(static_cast<size_t>(seqs));
    for (auto& l : lens) l = rng() % 4 == 0 ? 0 : rng() % 4 == 0 ? 1 : static_cast<int32_t>(rng() % 150);
    const bool causal = rng() % 2;
    const int64_t sizes[][2] = {{bm, bn}, {16, 8}, {32, 64}, {128, 32}};
    const auto& s = sizes[rng() % 4];
    check_valid(cu_of(lens), causal, s[0], s[1]);
    check_garbage(rng);
  }
  if (g_failures) {
    std::fprintf(stderr, "%d failures\n", g_failures);
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
