// Checks cuda/common/sm90/tile_scheduler.h as fp8Gemm v3 uses it: for
// ragged and exact M and N, both tile configurations (fp8_gemm_config_v3.h) and any
// number of multiprocessors, the blocks of the persistent grid together
// compute every output tile exactly once, each tile inside the matrix, and
// the walk keeps its grouped order (consecutive tiles of a band differ in
// the column first). Seeded random shapes on top of a fixed list; the seed
// is printed on failure. Exit status 0 means no failure.
// Built by CMake into build/checks/; run by tests/native/host_checks.test.ts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "../../../native/common/math.h"
#include "../../../cuda/common/sm90/tile_scheduler.h"
#include "../../../cuda/gemm/sm90/fp8_gemm_config_v3.h"

using namespace moekit;
using sm90::OutputTile;
using sm90::TileScheduler;

namespace {

int g_failures = 0;
uint64_t g_seed = 0;

void fail(const char* what, int64_t m, int64_t n, int block_m, int block_n, int sms, const char* detail) {
  if (++g_failures <= 20) {
    std::fprintf(stderr, "FAIL %s: m=%lld n=%lld block %dx%d sms=%d seed=%llu: %s\n", what, static_cast<long long>(m),
                 static_cast<long long>(n), block_m, block_n, sms, static_cast<unsigned long long>(g_seed), detail);
  }
}

// Simulates the persistent launch the way the kernel walks it.
void check_cover(int64_t m, int64_t n, int block_m, int block_n, int group_n, int sms) {
  const TileScheduler tiles(m, n, block_m, block_n, group_n);
  const int64_t want_m_blocks = ceil_div<int64_t>(m, block_m);
  const int64_t want_n_blocks = ceil_div<int64_t>(n, block_n);
  if (tiles.num_m_blocks() != want_m_blocks || tiles.num_n_blocks() != want_n_blocks) {
    fail("tile counts", m, n, block_m, block_n, sms, "num_m_blocks/num_n_blocks differ from ceil(m/BM), ceil(n/BN)");
    return;
  }
  const int64_t total = tiles.num_tiles();
  const int64_t grid = sm90::persistent_grid_size(total, sms);
  if (total > 0 && (grid < 1 || grid > sms || grid > total)) {
    fail("grid size", m, n, block_m, block_n, sms, "grid must be in [1, min(tiles, sms)]");
  }
  if (total == 0) return;
  std::vector<uint8_t> seen(static_cast<size_t>(total), 0);
  for (int64_t b = 0; b < grid; ++b) {
    for (int64_t t = b; t < total; t += grid) {
      const OutputTile tile = tiles.tile(t);
      if (tile.m_block < 0 || tile.m_block >= want_m_blocks || tile.n_block < 0 || tile.n_block >= want_n_blocks) {
        fail("tile in range", m, n, block_m, block_n, sms, "a tile lies outside the matrix");
        return;
      }
      // The tile's first row and column must be inside C (no empty tiles).
      if (static_cast<int64_t>(tile.m_block) * block_m >= m || static_cast<int64_t>(tile.n_block) * block_n >= n) {
        fail("tile origin", m, n, block_m, block_n, sms, "a tile starts past the end of C");
        return;
      }
      uint8_t& s = seen[static_cast<size_t>(tile.m_block * want_n_blocks + tile.n_block)];
      if (s != 0) {
        fail("exactly once", m, n, block_m, block_n, sms, "a tile is computed twice");
        return;
      }
      s = 1;
    }
  }
  for (uint8_t s : seen) {
    if (s == 0) {
      fail("exactly once", m, n, block_m, block_n, sms, "a tile is never computed");
      return;
    }
  }
}

// Within a band the walk moves along the band's columns first, then down a
// row; a new band starts at the first row.
void check_order(int64_t m, int64_t n, int block_m, int block_n, int group_n) {
  const TileScheduler tiles(m, n, block_m, block_n, group_n);
  const int64_t total = tiles.num_tiles();
  for (int64_t t = 1; t < total; ++t) {
    const OutputTile a = tiles.tile(t - 1);
    const OutputTile b = tiles.tile(t);
    const bool same_row_next_col = b.m_block == a.m_block && b.n_block == a.n_block + 1;
    const bool next_row = b.m_block == a.m_block + 1 && b.n_block <= a.n_block && b.n_block % group_n == 0;
    const bool next_band = b.m_block == 0 && a.m_block == tiles.num_m_blocks() - 1 && b.n_block == a.n_block + 1 &&
                           b.n_block % group_n == 0;
    if (!same_row_next_col && !next_row && !next_band) {
      char detail[160];
      std::snprintf(detail, sizeof detail, "tile %lld (%d,%d) follows (%d,%d)", static_cast<long long>(t), b.m_block, b.n_block,
                    a.m_block, a.n_block);
      fail("grouped order", m, n, block_m, block_n, 0, detail);
      return;
    }
  }
}

template <typename Cfg>
void check_config(const std::vector<int64_t>& ms, const std::vector<int64_t>& ns, const std::vector<int>& sms_list) {
  for (int64_t m : ms) {
    for (int64_t n : ns) {
      for (int sms : sms_list) check_cover(m, n, Cfg::BLOCK_M, Cfg::BLOCK_N, Cfg::GROUP_N, sms);
      check_order(m, n, Cfg::BLOCK_M, Cfg::BLOCK_N, Cfg::GROUP_N);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  // --seed, else the vitest run's MOEKIT_TEST_SEED (tests/helpers/rng.ts), else a fixed one.
  const char* seed_text = std::getenv("MOEKIT_TEST_SEED");
  g_seed = seed_text && *seed_text ? std::strtoull(seed_text, nullptr, 10) : 0x5eed90a;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) g_seed = std::strtoull(argv[++i], nullptr, 10);
  }
  // Exact multiples, one past, one short, single rows and columns, the
  // DeepSeek-V3 N values, and a few large ones.
  std::vector<int64_t> ms = {1, 2, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4096, 4097};
  std::vector<int64_t> ns = {1, 16, 31, 32, 33, 64, 100, 127, 128, 129, 2048, 2112, 2113, 4096, 7168};
  // Multiprocessor counts: one, few, H100 PCIe/SXM (114/132), H20 (78), one
  // more than there are tiles, and seeded random ones.
  std::vector<int> sms = {1, 2, 3, 7, 64, 66, 78, 114, 132, 133, 1000};
  std::mt19937_64 rng(g_seed);
  const int extra = quick ? 12 : 60;
  for (int i = 0; i < extra; ++i) {
    ms.push_back(1 + static_cast<int64_t>(rng() % 3000));
    ns.push_back(1 + static_cast<int64_t>(rng() % 5000));
    sms.push_back(1 + static_cast<int>(rng() % 200));
  }
  check_config<Fp8GemmV3Large>(ms, ns, sms);
  check_config<Fp8GemmV3Small>(ms, ns, sms);
  // Other groupings the scheduler may be given: 1 (row-major walk) and wider than C.
  for (int64_t m : {1, 65, 300}) {
    for (int64_t n : {1, 129, 1000}) {
      for (int group : {1, 3, 64}) {
        for (int s : {1, 5, 132}) check_cover(m, n, 64, 32, group, s);
        check_order(m, n, 64, 32, group);
      }
    }
  }
  // Empty C: no tiles, a grid of one that does nothing.
  check_cover(0, 128, 128, 128, 16, 132);
  check_cover(128, 0, 128, 128, 16, 132);
  if (TileScheduler(0, 5, 64, 32, 16).num_tiles() != 0) fail("empty", 0, 5, 64, 32, 0, "tiles for m = 0");
  if (sm90::persistent_grid_size(0, 132) != 1) fail("empty", 0, 0, 0, 0, 132, "grid for no tiles must be 1");
  // The largest shapes v3 accepts (m, n < 2^31): counts must not overflow.
  {
    const int64_t big = (int64_t{1} << 31) - 1;
    const TileScheduler t(big, big, 64, 32, 16);
    const int64_t want = ceil_div<int64_t>(big, 64) * ceil_div<int64_t>(big, 32);
    if (t.num_tiles() != want) fail("large counts", big, big, 64, 32, 0, "num_tiles overflowed");
    const OutputTile last = t.tile(want - 1);
    if (static_cast<int64_t>(last.m_block) * 64 >= big || static_cast<int64_t>(last.n_block) * 32 >= big || last.m_block < 0 ||
        last.n_block < 0) {
      fail("large counts", big, big, 64, 32, 0, "last tile out of range");
    }
  }
  if (g_failures) {
    std::fprintf(stderr, "%d failure(s) (seed %llu: rerun with MOEKIT_TEST_SEED=%llu or --seed %llu)\n", g_failures,
                 static_cast<unsigned long long>(g_seed), static_cast<unsigned long long>(g_seed), static_cast<unsigned long long>(g_seed));
    return 1;
  }
  std::printf("sm90 tile scheduler: ok (%zu m x %zu n x %zu sm counts, seed %llu)\n", ms.size(), ns.size(), sms.size(),
              static_cast<unsigned long long>(g_seed));
  return 0;
}
