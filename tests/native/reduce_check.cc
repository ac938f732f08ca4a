// Checks on the CPU what the warp and block reductions of
// cuda/common/reduce.cuh compute, through the __host__ __device__ pieces
// they are built from (cuda/common/reduce_ops.h), with a warp's
// __shfl_xor_sync butterfly emulated in plain loops:
//   - arg_before is a strict total order on candidates with distinct
//     indices (NaN first, then larger values, equal values by the lower
//     index, +0 equal to -0), agreeing with a reference written here as a
//     sort key, and arg_none() ranks after every real candidate;
//   - the butterfly of warp_max, warp_sum and warp_arg_max leaves on every
//     lane the result of its aligned group of LANES lanes (sums bitwise the
//     same on every lane of the group), and block_reduce the block's;
//   - warp_arg_top_k's rounds (lane_arg_max, butterfly, take_winner) give
//     the first K of all candidates in the reference order, with ties, NaNs,
//     signed zeros and padding slots, then arg_none() past the real ones.
// Seeded (--seed, else MOEKIT_TEST_SEED, else a fixed seed); the seed is
// printed. Built by CMake into build/checks/; run by
// tests/native/host_checks.test.ts. Exit status 0 means no failure.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "check_options.h"
#include "../../cuda/common/reduce_ops.h"
#include "../../cuda/common/warp.h"

using namespace moekit;

namespace {

int g_failures = 0;
long g_checks = 0;
uint64_t g_seed = 0;

void fail(const char* what, const char* detail) {
  if (++g_failures <= 20) std::fprintf(stderr, "FAIL %s (seed %llu): %s\n", what, static_cast<unsigned long long>(g_seed), detail);
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_candidate(ArgValue a, ArgValue b) { return a.index == b.index && (same_bits(a.value, b.value) || (std::isnan(a.value) && std::isnan(b.value))); }

// The reference ranking as a sort key, greatest first: (is NaN, value with
// -0 as +0 and NaN as 0, -index).
std::tuple<int, double, int64_t> rank_key(ArgValue c) {
  const bool nan = std::isnan(c.value);
  const double v = nan || c.value == 0.0f ? 0.0 : static_cast<double>(c.value);
  return {nan ? 1 : 0, v, -static_cast<int64_t>(c.index)};
}
bool ref_before(ArgValue a, ArgValue b) { return rank_key(a) > rank_key(b); }

// ---- 1. The order -------------------------------------------------------------------------------
void check_order() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float values[] = {nan, -nan, inf, -inf, 1.0f, -1.0f, 0.0f, -0.0f, std::numeric_limits<float>::denorm_min(), 3.5f, 1e30f};
  const int32_t indices[] = {0, 1, 7, 255, ARG_NONE_INDEX - 1};
  std::vector<ArgValue> c;
  for (float v : values) {
    for (int32_t i : indices) c.push_back(ArgValue{v, i});
  }
  char detail[160];
  for (const ArgValue& a : c) {
    ++g_checks;
    if (arg_before(a, a)) fail("order", "a candidate ranks before itself");
    if (!arg_before(a, arg_none())) {
      std::snprintf(detail, sizeof detail, "(%g, %d) does not rank before arg_none()", static_cast<double>(a.value), a.index);
      fail("arg_none", detail);
    }
    for (const ArgValue& b : c) {
      if (&a == &b) continue;
      const bool ab = arg_before(a, b);
      const bool ba = arg_before(b, a);
      ++g_checks;
      // Equal value classes and equal indices (NaN vs -NaN, same index) are the only ties.
      const bool tie = rank_key(a) == rank_key(b);
      if (tie ? (ab || ba) : (ab == ba || ab != ref_before(a, b))) {
        std::snprintf(detail, sizeof detail, "(%g, %d) vs (%g, %d): before %d/%d, reference %d", static_cast<double>(a.value), a.index,
                      static_cast<double>(b.value), b.index, ab, ba, ref_before(a, b));
        fail("order", detail);
      }
      const ArgValue m = ArgMaxOp{}(a, b);
      if (!tie && !same_candidate(m, ab ? a : b)) fail("ArgMaxOp", "does not return the candidate that ranks first");
    }
  }
}

// ---- 2. Butterflies -------------------------------------------------------------------------------
// warp_reduce: after offsets LANES/2 .. 1, lane l holds op(v[l], v[l ^ offset]) folded over the steps.
template <typename T, typename Op>
void butterfly(T (&v)[WARP_SIZE], int lanes, Op op) {
  for (int offset = lanes / 2; offset > 0; offset /= 2) {
    T next[WARP_SIZE];
    for (int l = 0; l < WARP_SIZE; ++l) next[l] = op(v[l], v[l ^ offset]);
    std::copy(next, next + WARP_SIZE, v);
  }
}

float draw_value(std::mt19937_64& rng, bool specials) {
  const int kind = static_cast<int>(rng() % 16);
  if (specials && kind == 0) return std::numeric_limits<float>::quiet_NaN();
  if (kind == 1) return 0.0f;
  if (kind == 2) return -0.0f;
  if (kind < 8) return static_cast<float>(static_cast<int>(rng() % 7) - 3);  // ties
  return std::ldexp(static_cast<float>(rng() % 100000) / 100000.0f - 0.5f, static_cast<int>(rng() % 20) - 10);
}

void check_butterflies(std::mt19937_64& rng, int trials) {
  char detail[200];
  for (int lanes = 1; lanes <= WARP_SIZE; lanes *= 2) {
    for (int t = 0; t < trials; ++t) {
      float mx[WARP_SIZE], sm[WARP_SIZE];
      ArgValue am[WARP_SIZE], in[WARP_SIZE];
      for (int l = 0; l < WARP_SIZE; ++l) {
        mx[l] = std::fabs(draw_value(rng, false));  // quantize's amax: |x| >= 0
        sm[l] = draw_value(rng, false);
        in[l] = am[l] = ArgValue{draw_value(rng, true), static_cast<int32_t>(l * 3 + static_cast<int>(rng() % 3))};
      }
      const std::vector<float> mx0(mx, mx + WARP_SIZE), sm0(sm, sm + WARP_SIZE);
      butterfly(mx, lanes, MaxOp{});
      butterfly(sm, lanes, SumOp{});
      butterfly(am, lanes, ArgMaxOp{});
      for (int l = 0; l < WARP_SIZE; ++l) {
        const int g0 = l / lanes * lanes;
        float want_max = 0.0f;
        double want_sum = 0.0;
        ArgValue want_arg = in[g0];
        for (int j = g0; j < g0 + lanes; ++j) {
          want_max = std::max(want_max, mx0[static_cast<size_t>(j)]);
          want_sum += sm0[static_cast<size_t>(j)];
          if (ref_before(in[j], want_arg)) want_arg = in[j];
        }
        g_checks += 3;
        if (mx[l] != want_max) {
          std::snprintf(detail, sizeof detail, "LANES %d lane %d: %g, want %g", lanes, l, static_cast<double>(mx[l]), static_cast<double>(want_max));
          fail("warp_max", detail);
        }
        if (!same_bits(sm[l], sm[g0]) || std::fabs(sm[l] - want_sum) > 1e-5 * (1.0 + std::fabs(want_sum)) * lanes) {
          std::snprintf(detail, sizeof detail, "LANES %d lane %d: %.9g (group's first lane %.9g), want %.9g", lanes, l, static_cast<double>(sm[l]),
                        static_cast<double>(sm[g0]), want_sum);
          fail("warp_sum", detail);
        }
        if (!same_candidate(am[l], want_arg)) {
          std::snprintf(detail, sizeof detail, "LANES %d lane %d: (%g, %d), want (%g, %d)", lanes, l, static_cast<double>(am[l].value), am[l].index,
                        static_cast<double>(want_arg.value), want_arg.index);
          fail("warp_arg_max", detail);
        }
      }
    }
  }
}

// block_reduce: every warp's butterfly, then the warps' values folded in warp order from warp 0's.
void check_block_reduce(std::mt19937_64& rng, int trials) {
  for (int warps : {1, 2, 8, 32}) {
    for (int t = 0; t < trials; ++t) {
      std::vector<float> v(static_cast<size_t>(warps * WARP_SIZE));
      for (float& x : v) x = std::fabs(draw_value(rng, false));
      std::vector<float> scratch(static_cast<size_t>(warps));
      for (int w = 0; w < warps; ++w) {
        float lane[WARP_SIZE];
        std::copy(v.begin() + w * WARP_SIZE, v.begin() + (w + 1) * WARP_SIZE, lane);
        butterfly(lane, WARP_SIZE, MaxOp{});
        scratch[static_cast<size_t>(w)] = lane[0];
      }
      float r = scratch[0];
      for (int w = 1; w < warps; ++w) r = MaxOp{}(r, scratch[static_cast<size_t>(w)]);
      ++g_checks;
      if (r != *std::max_element(v.begin(), v.end())) fail("block_max", "the block's maximum differs from the largest input");
    }
  }
}

// ---- 3. arg-top-k -----------------------------------------------------------------------------
// One warp_arg_top_k<K, N, LANES> call, emulated: `c` holds every lane's N candidates.
template <int N>
std::vector<std::vector<ArgValue>> emulate_top_k(const std::vector<std::array<ArgValue, N>>& c, int k, int lanes) {
  std::vector<std::vector<ArgValue>> top(WARP_SIZE);
  uint32_t taken[WARP_SIZE] = {};
  for (int r = 0; r < k; ++r) {
    ArgValue offer[WARP_SIZE];
    for (int l = 0; l < WARP_SIZE; ++l) {
      ArgValue mine[N];
      std::copy(c[static_cast<size_t>(l)].begin(), c[static_cast<size_t>(l)].end(), mine);
      offer[l] = lane_arg_max(mine, taken[l]);
    }
    butterfly(offer, lanes, ArgMaxOp{});
    for (int l = 0; l < WARP_SIZE; ++l) {
      ArgValue mine[N];
      std::copy(c[static_cast<size_t>(l)].begin(), c[static_cast<size_t>(l)].end(), mine);
      top[static_cast<size_t>(l)].push_back(offer[l]);
      taken[l] = take_winner(mine, taken[l], offer[l].index);
    }
  }
  return top;
}

template <int N>
void check_top_k(std::mt19937_64& rng, int trials) {
  char detail[220];
  for (int lanes : {32, 16, 8}) {
    for (int k : {1, 2, 3, 8, 16}) {
      for (int t = 0; t < trials; ++t) {
        // Real candidates in a random number of the slots (some lanes partly or wholly padding).
        const int slots = lanes * N;
        const int groups = WARP_SIZE / lanes;
        std::vector<std::array<ArgValue, N>> c(WARP_SIZE);
        std::vector<std::vector<ArgValue>> real(static_cast<size_t>(groups));
        for (int g = 0; g < groups; ++g) {
          const int count = t % 5 == 0 ? static_cast<int>(rng() % (k + 1)) : 1 + static_cast<int>(rng() % slots);
          std::vector<int32_t> ids(static_cast<size_t>(slots));
          for (int i = 0; i < slots; ++i) ids[static_cast<size_t>(i)] = i;
          std::shuffle(ids.begin(), ids.end(), rng);
          for (int s = 0; s < slots; ++s) {
            ArgValue& slot = c[static_cast<size_t>(g * lanes + s / N)][static_cast<size_t>(s % N)];
            slot = ids[static_cast<size_t>(s)] < count ? ArgValue{draw_value(rng, true), ids[static_cast<size_t>(s)] * 2 + 1} : arg_none();
            if (slot.index != ARG_NONE_INDEX) real[static_cast<size_t>(g)].push_back(slot);
          }
          std::sort(real[static_cast<size_t>(g)].begin(), real[static_cast<size_t>(g)].end(), ref_before);
        }
        const auto top = emulate_top_k<N>(c, k, lanes);
        for (int l = 0; l < WARP_SIZE; ++l) {
          const std::vector<ArgValue>& want = real[static_cast<size_t>(l / lanes)];
          for (int r = 0; r < k; ++r) {
            const ArgValue expect = r < static_cast<int>(want.size()) ? want[static_cast<size_t>(r)] : arg_none();
            const ArgValue got = top[static_cast<size_t>(l)][static_cast<size_t>(r)];
            ++g_checks;
            if (!same_candidate(got, expect)) {
              std::snprintf(detail, sizeof detail, "K %d N %d LANES %d lane %d rank %d: (%g, %d), want (%g, %d) of %zu candidates", k, N, lanes, l, r,
                            static_cast<double>(got.value), got.index, static_cast<double>(expect.value), expect.index, want.size());
              fail("warp_arg_top_k", detail);
              return;
            }
          }
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const CheckOptions options = check_options(argc, argv, 0x5eedu);
  const bool quick = options.quick;
  g_seed = options.seed;
  std::mt19937_64 rng(g_seed);
  const int trials = quick ? 40 : 400;

  check_order();
  check_butterflies(rng, trials);
  check_block_reduce(rng, trials / 4);
  check_top_k<1>(rng, trials / 4);
  check_top_k<2>(rng, trials / 4);
  check_top_k<8>(rng, trials / 4);
  check_top_k<32>(rng, trials / 8);

  if (g_failures) {
    std::fprintf(stderr, "reduce_check: %d of %ld checks failed (seed %llu: rerun with MOEKIT_TEST_SEED=%llu or --seed %llu)\n", g_failures, g_checks,
                 static_cast<unsigned long long>(g_seed), static_cast<unsigned long long>(g_seed), static_cast<unsigned long long>(g_seed));
    return 1;
  }
  std::printf("reductions: ok (%ld checks, seed %llu)\n", g_checks, static_cast<unsigned long long>(g_seed));
  return 0;
}
