// Checks the tile schedulers the GEMM kernels take as their Scheduler type
// (cuda/common/tile_scheduler.h for the mma.sync mainloop of gemm v2 and
// fp8Gemm v2, cuda/common/sm90/tile_scheduler.h for fp8Gemm v3), as the
// kernels and launchers use them, for their tile configurations:
//   - num_tiles() is ceil(m / BLOCK_M) * ceil(n / BLOCK_N), 0 for an empty C;
//   - walked as the kernels walk them (one block per tile; a persistent
//     grid for any number of multiprocessors), every output tile of C is
//     computed exactly once;
//   - each GemmTile places its tile in the normal GEMM's operands: A and C
//     rows from a_row0 below a_rows = m, B rows from b_row0 = c_col0 below
//     b_rows = n, the tile's first row and column inside C;
//   - the tiles come in the order of the walks underneath (grouped_tile,
//     sm90::TileScheduler), which tests/native/mma_layout_check.cc and
//     tests/native/sm90/tile_scheduler_check.cc check.
// Seeded random shapes on top of a fixed list (--seed, else
// MOEKIT_TEST_SEED); the seed is printed. Built by CMake into
// build/checks/; run by tests/native/host_checks.test.ts. Exit status 0
// means no failure.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "check_options.h"
#include "../../native/common/math.h"
#include "../../native/ops/gemm/fp8_gemm.h"
#include "../../native/ops/gemm/gemm.h"
#include "../../cuda/common/sm90/tile_scheduler.h"
#include "../../cuda/common/tile_raster.h"
#include "../../cuda/common/tile_scheduler.h"
#include "../../cuda/gemm/fp8_gemm_config_v2.h"
#include "../../cuda/gemm/gemm_config_v2.h"
#include "../../cuda/gemm/sm90/fp8_gemm_config_v3.h"

using namespace moekit;

namespace {

int g_failures = 0;
uint64_t g_seed = 0;

void fail(const char* scheduler, int64_t m, int64_t n, const char* detail) {
  if (++g_failures <= 20) {
    std::fprintf(stderr, "FAIL %s m=%lld n=%lld (seed %llu): %s\n", scheduler, static_cast<long long>(m), static_cast<long long>(n),
                 static_cast<unsigned long long>(g_seed), detail);
  }
}

// One tile: in C, and placed in the operands as the normal GEMM's are.
// Marks it in `seen` (tiles_m x tiles_n); false after a failure.
bool visit(const char* name, const GemmTile& t, int64_t m, int64_t n, int block_m, int block_n, int64_t want_m0, int64_t want_n0,
           std::vector<uint8_t>& seen) {
  const int64_t tiles_n = ceil_div<int64_t>(n, block_n);
  if (t.a_row0 != want_m0 || t.c_col0 != want_n0) {
    fail(name, m, n, "a tile is not the one the walk underneath names");
    return false;
  }
  if (t.a_row0 < 0 || t.a_row0 >= m || t.a_row0 % block_m != 0 || t.c_col0 < 0 || t.c_col0 >= n || t.c_col0 % block_n != 0) {
    fail(name, m, n, "a tile starts outside C or off the tile grid");
    return false;
  }
  if (t.a_rows != m || t.b_row0 != t.c_col0 || t.b_rows != n) {
    fail(name, m, n, "a tile's operand rows are not the normal GEMM's (a_rows = m, b_row0 = c_col0, b_rows = n)");
    return false;
  }
  uint8_t& s = seen[static_cast<size_t>(t.a_row0 / block_m * tiles_n + t.c_col0 / block_n)];
  if (s != 0) {
    fail(name, m, n, "a tile is computed twice");
    return false;
  }
  s = 1;
  return true;
}

bool all_seen(const char* name, int64_t m, int64_t n, const std::vector<uint8_t>& seen) {
  for (uint8_t s : seen) {
    if (s == 0) {
      fail(name, m, n, "a tile is never computed");
      return false;
    }
  }
  return true;
}

// The mma.sync mainloop: block b of a grid of num_tiles() computes tile(b).
template <typename Params, int BLOCK_M, int BLOCK_N, int GROUP_M>
void check_normal(const char* name, int64_t m, int64_t n) {
  Params p{};
  p.m = m;
  p.n = n;
  const NormalTileScheduler<BLOCK_M, BLOCK_N, GROUP_M> scheduler(p);
  const int64_t tiles_m = ceil_div<int64_t>(m, BLOCK_M);
  const int64_t tiles_n = ceil_div<int64_t>(n, BLOCK_N);
  if (scheduler.num_tiles() != tiles_m * tiles_n) {
    fail(name, m, n, "num_tiles() is not ceil(m / BLOCK_M) * ceil(n / BLOCK_N)");
    return;
  }
  std::vector<uint8_t> seen(static_cast<size_t>(tiles_m * tiles_n), 0);
  for (int64_t block = 0; block < scheduler.num_tiles(); ++block) {
    const TileIndex want = grouped_tile(block, tiles_m, tiles_n, GROUP_M);
    if (!visit(name, scheduler.tile(block), m, n, BLOCK_M, BLOCK_N, want.m * BLOCK_M, want.n * BLOCK_N, seen)) return;
  }
  all_seen(name, m, n, seen);
}

// fp8Gemm v3: a persistent grid of persistent_grid_size(num_tiles(), sms)
// blocks, block b taking tiles b, b + grid, ...
template <typename Cfg>
void check_persistent(const char* name, int64_t m, int64_t n, int sms) {
  Fp8GemmParams p{};
  p.m = m;
  p.n = n;
  const sm90::NormalPersistentScheduler<Cfg::BLOCK_M, Cfg::BLOCK_N, Cfg::GROUP_N> scheduler(p);
  const sm90::TileScheduler walk(m, n, Cfg::BLOCK_M, Cfg::BLOCK_N, Cfg::GROUP_N);
  const int64_t tiles_m = ceil_div<int64_t>(m, Cfg::BLOCK_M);
  const int64_t tiles_n = ceil_div<int64_t>(n, Cfg::BLOCK_N);
  if (scheduler.num_tiles() != tiles_m * tiles_n) {
    fail(name, m, n, "num_tiles() is not ceil(m / BLOCK_M) * ceil(n / BLOCK_N)");
    return;
  }
  const int64_t grid = sm90::persistent_grid_size(scheduler.num_tiles(), sms);
  std::vector<uint8_t> seen(static_cast<size_t>(tiles_m * tiles_n), 0);
  for (int64_t b = 0; b < grid; ++b) {
    for (int64_t t = b; t < scheduler.num_tiles(); t += grid) {
      const sm90::OutputTile want = walk.tile(t);
      if (!visit(name, scheduler.tile(t), m, n, Cfg::BLOCK_M, Cfg::BLOCK_N, int64_t{want.m_block} * Cfg::BLOCK_M,
                 int64_t{want.n_block} * Cfg::BLOCK_N, seen)) {
        return;
      }
    }
  }
  all_seen(name, m, n, seen);
}

void check_shape(int64_t m, int64_t n, const std::vector<int>& sms) {
  namespace g = gemm_v2_config;
  namespace f = fp8_gemm_v2_config;
  check_normal<GemmParams, g::BLOCK_M, g::BLOCK_N, g::GROUP_M>("gemm v2", m, n);
  check_normal<Fp8GemmParams, f::BLOCK_M, f::BLOCK_N, f::GROUP_M>("fp8Gemm v2", m, n);
  for (int s : sms) {
    check_persistent<Fp8GemmV3Large>("fp8Gemm v3 (128x128)", m, n, s);
    check_persistent<Fp8GemmV3Small>("fp8Gemm v3 (64x32)", m, n, s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const CheckOptions options = check_options(argc, argv, 0x5eed5c4du);
  const bool quick = options.quick;
  g_seed = options.seed;
  const std::vector<int> sms = {1, 3, 78, 132, 1000};
  std::vector<int64_t> ms = {0, 1, 31, 63, 64, 65, 127, 128, 129, 1000, 1025, 4097};
  std::vector<int64_t> ns = {0, 1, 31, 32, 33, 127, 128, 129, 2112, 7168};
  std::mt19937_64 rng(g_seed);
  for (int i = 0; i < (quick ? 6 : 40); ++i) {
    ms.push_back(1 + static_cast<int64_t>(rng() % 5000));
    ns.push_back(1 + static_cast<int64_t>(rng() % 5000));
  }
  for (int64_t m : ms) {
    for (int64_t n : ns) check_shape(m, n, sms);
  }
  if (g_failures) {
    std::fprintf(stderr, "%d failure(s) (seed %llu: rerun with MOEKIT_TEST_SEED=%llu or --seed %llu)\n", g_failures,
                 static_cast<unsigned long long>(g_seed), static_cast<unsigned long long>(g_seed), static_cast<unsigned long long>(g_seed));
    return 1;
  }
  std::printf("tile schedulers: ok (%zu m x %zu n, seed %llu)\n", ms.size(), ns.size(), static_cast<unsigned long long>(g_seed));
  return 0;
}
