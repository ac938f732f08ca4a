// Checks the layout math fp8Gemm v3 feeds wgmma with, on the host:
//  - matrix descriptors (cuda/common/sm90/matrix_descriptor.h): every field
//    decodes back to what was encoded, and the K-major 128B descriptor has the
//    bits the PTX ISA table asks for (hand-computed literal);
//  - the 128B swizzle (swizzle.h) is the chunk permutation TMA documents;
//  - what wgmma reads through each math warpgroup's descriptors for each k32
//    step, under the PTX ISA's canonical K-major SW128 layout, is exactly the
//    bytes TMA stored for that warpgroup's rows and K range, in every stage;
//  - the shared-memory plan of each config fits its SMEM_BYTES for any base;
//  - the accumulator fragment map (accumulator_layout.h) is a bijection onto
//    64 x N and equals CuTe's CLayout_64xN;
//  - the two math warpgroups' fragments cover the block tile exactly once,
//    and the scale indices the kernel uses for each register are those of
//    the output element the register holds (A by row, B by column / 128).
// Exit status 0 means no failure. Built into build/checks/, run by
// tests/native/host_checks.test.ts.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "../../../native/common/math.h"
#include "../../../cuda/common/sm90/accumulator_layout.h"
#include "../../../cuda/common/sm90/matrix_descriptor.h"
#include "../../../cuda/common/sm90/swizzle.h"
#include "../../../cuda/common/sm90/tile_scheduler.h"
#include "../../../cuda/gemm/sm90/fp8_gemm_config_v3.h"

using namespace moekit;
using namespace moekit::sm90;

namespace {

int g_failures = 0;

void fail(const char* what, const char* detail) {
  if (++g_failures <= 30) std::fprintf(stderr, "FAIL %s: %s\n", what, detail);
}

bool same_fields(const MatrixDescriptorFields& a, const MatrixDescriptorFields& b) {
  return a.start_address == b.start_address && a.leading_byte_offset == b.leading_byte_offset &&
         a.stride_byte_offset == b.stride_byte_offset && a.base_offset == b.base_offset && a.swizzle == b.swizzle;
}

void check_descriptor_fields(bool quick, uint32_t seed) {
  std::mt19937 rng(seed);
  const int n = quick ? 20000 : 400000;
  for (int i = 0; i < n; ++i) {
    // Fields are 14-bit counts of 16 bytes: byte values up to 2^18 - 16.
    const auto field = [&](uint32_t mask) { return static_cast<uint32_t>(rng()) & mask; };
    const MatrixDescriptorFields f{field(0x3FFFu) << 4, field(0x3FFFu) << 4, field(0x3FFFu) << 4, field(7u),
                                   static_cast<DescriptorSwizzle>(field(3u))};
    const uint64_t d = make_matrix_descriptor(f);
    if (!same_fields(decode_matrix_descriptor(d), f)) {
      fail("descriptor round trip", "decode(make(f)) != f");
      return;
    }
    // Reserved bits (14-15, 30-31, 46-48, 52-61) stay zero.
    const uint64_t reserved = (uint64_t{3} << 14) | (uint64_t{3} << 30) | (uint64_t{7} << 46) | (uint64_t{0x3FF} << 52);
    if (d & reserved) {
      fail("descriptor reserved bits", "a reserved bit is set");
      return;
    }
  }
  // K-major 128B at shared address 0x400: start 0x400 >> 4 = 0x40 (bits 0-13),
  // LBO "assumed 1" (bit 16), SBO 1024 >> 4 = 64 (bits 32-45), base offset 0,
  // swizzle mode 1 = 128B (bits 62-63).
  const uint64_t want = 0x40ull | (1ull << 16) | (64ull << 32) | (1ull << 62);
  if (kmajor_sw128_descriptor(0x400) != want) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "got 0x%016llx, want 0x%016llx", static_cast<unsigned long long>(kmajor_sw128_descriptor(0x400)),
                  static_cast<unsigned long long>(want));
    fail("K-major SW128 descriptor bits", buf);
  }
  // Every shared address a 227 KB block can hold survives the 14-bit field.
  for (uint32_t a = 0; a < SM90_MAX_SMEM_PER_BLOCK + 2048; a += 16) {
    if (decode_matrix_descriptor(kmajor_sw128_descriptor(a)).start_address != a) {
      fail("descriptor start address range", "a shared address does not fit the start-address field");
      return;
    }
  }
}

void check_swizzle() {
  // TMA's CU_TENSOR_MAP_SWIZZLE_128B: 16-byte chunk c of 128-byte row r goes to chunk c ^ (r % 8).
  std::vector<int> hits(SWIZZLE_128B_PATTERN_BYTES * 4, 0);
  for (uint32_t r = 0; r < 32; ++r) {
    for (uint32_t c = 0; c < 128; ++c) {
      const uint32_t tma = r * 128 + ((c / 16) ^ (r % 8)) * 16 + c % 16;
      const uint32_t ours = swizzle_128b(r * 128 + c);
      if (ours != tma) {
        fail("128B swizzle", "differs from the chunk permutation");
        return;
      }
      if (ours / 128 != r) fail("128B swizzle", "a byte left its row");
      ++hits[ours];
    }
  }
  for (int h : hits) {
    if (h != 1) {
      fail("128B swizzle", "not a permutation");
      return;
    }
  }
}

// The address wgmma reads for element (row, k) of a K-major operand whose
// descriptor is `desc`: the PTX ISA's canonical K-major 128B layout
// ((8,m),(T,2k)) : ((8T,SBO),(1,T)) in 16-byte units T, i.e. linear offset
// (row % 8) * 128 + (row / 8) * SBO + k from the start address, then the
// swizzle applied to the address (base offset 0: patterns on 1024-byte
// boundaries). Decoded from the descriptor so that wrong bits show.
uint32_t wgmma_read_address(uint64_t desc, int row, int k) {
  const MatrixDescriptorFields f = decode_matrix_descriptor(desc);
  if (f.swizzle != DescriptorSwizzle::B128 || f.base_offset != 0) return 0xFFFFFFFFu;
  const uint32_t linear = f.start_address + static_cast<uint32_t>(row % 8) * SWIZZLE_128B_ROW_BYTES +
                          static_cast<uint32_t>(row / 8) * f.stride_byte_offset + static_cast<uint32_t>(k);
  return swizzle_128b(linear);
}

// Where TMA put element (row, k) of a box loaded at `box_base` (1024-aligned).
uint32_t tma_write_address(uint32_t box_base, int row, int k) {
  return box_base + static_cast<uint32_t>(row) * 128 + ((static_cast<uint32_t>(k) / 16) ^ (static_cast<uint32_t>(row) % 8)) * 16 +
         static_cast<uint32_t>(k) % 16;
}

template <typename Cfg>
void check_operand_reads(const char* name) {
  char buf[200];
  // Any base the kernel can get after aligning the dynamic shared memory up.
  for (uint32_t base : {0u, 1024u, 4096u, 31u * 1024u}) {
    for (int s = 0; s < Cfg::NUM_STAGES; ++s) {
      const uint32_t a_stage = base + s * Cfg::STAGE_BYTES;
      const uint32_t b_stage = a_stage + Cfg::A_STAGE_BYTES;
      for (int wg = 0; wg < Cfg::NUM_MATH_WARPGROUPS; ++wg) {
        for (int ks = 0; ks < Cfg::K_STEPS; ++ks) {
          const uint64_t da = kmajor_sw128_descriptor(a_stage + Cfg::warpgroup_a_offset(wg) + ks * Cfg::WGMMA_K);
          const uint64_t db = kmajor_sw128_descriptor(b_stage + Cfg::warpgroup_b_offset(wg) + ks * Cfg::WGMMA_K);
          for (int r = 0; r < Cfg::WGMMA_M; ++r) {
            for (int k = 0; k < Cfg::WGMMA_K; ++k) {
              const int tile_row = Cfg::warpgroup_row(wg) + r;
              const int tile_k = ks * Cfg::WGMMA_K + k;
              if (wgmma_read_address(da, r, k) != tma_write_address(a_stage, tile_row, tile_k)) {
                std::snprintf(buf, sizeof buf, "%s stage %d wg %d k-step %d: A(%d,%d) read from the wrong byte", name, s, wg, ks, r, k);
                fail("wgmma A reads what TMA wrote", buf);
                return;
              }
            }
          }
          for (int c = 0; c < Cfg::WARPGROUP_N; ++c) {
            for (int k = 0; k < Cfg::WGMMA_K; ++k) {
              const int tile_col = Cfg::warpgroup_col(wg) + c;
              const int tile_k = ks * Cfg::WGMMA_K + k;
              if (wgmma_read_address(db, c, k) != tma_write_address(b_stage, tile_col, tile_k)) {
                std::snprintf(buf, sizeof buf, "%s stage %d wg %d k-step %d: B(%d,%d) read from the wrong byte", name, s, wg, ks, c, k);
                fail("wgmma B reads what TMA wrote", buf);
                return;
              }
            }
          }
        }
      }
    }
  }
  // The two warpgroups read disjoint A rows or disjoint B rows (never both the same).
  if (Cfg::warpgroup_row(0) == Cfg::warpgroup_row(1) && Cfg::warpgroup_col(0) == Cfg::warpgroup_col(1)) {
    fail("warpgroup placement", name);
  }
}

template <typename Cfg>
void check_smem_plan(const char* name) {
  char buf[200];
  // For any 16-byte-aligned dynamic base, the aligned stages and barriers end inside SMEM_BYTES.
  for (uint32_t dyn = 0; dyn < 4096; dyn += 16) {
    const uint32_t base = round_up<uint32_t>(dyn, SWIZZLE_128B_PATTERN_BYTES);
    const uint32_t end = base + Cfg::NUM_STAGES * Cfg::STAGE_BYTES + Cfg::BARRIER_BYTES;
    if (end > dyn + Cfg::SMEM_BYTES) {
      std::snprintf(buf, sizeof buf, "%s: base %u needs %u bytes, SMEM_BYTES is %u", name, dyn, end - dyn, Cfg::SMEM_BYTES);
      fail("shared memory plan", buf);
      return;
    }
  }
  // The boxes TMA writes per stage are exactly the bytes the stage expects
  // (a mismatch would hang the full barrier or overrun the next stage).
  if (Cfg::A_STAGE_BYTES != static_cast<uint32_t>(Cfg::BLOCK_M * Cfg::BLOCK_K) ||
      Cfg::B_STAGE_BYTES != static_cast<uint32_t>(Cfg::BLOCK_N * Cfg::BLOCK_K) ||
      Cfg::STAGE_BYTES != Cfg::A_STAGE_BYTES + Cfg::B_STAGE_BYTES) {
    fail("stage bytes", name);
  }
  std::printf("  %s: BLOCK %dx%dx%d, %d stages of %u bytes, %u bytes of shared memory, %d accumulator registers per thread\n", name,
              Cfg::BLOCK_M, Cfg::BLOCK_N, Cfg::BLOCK_K, Cfg::NUM_STAGES, Cfg::STAGE_BYTES, Cfg::SMEM_BYTES, Cfg::ACCUM_REGISTERS);
}

// CuTe's CLayout_64xN = ((4,8,4),(2,2,N/8)) : ((128,1,16),(64,8,512)),
// mapping (thread, value) to m + 64 * n.
void cute_clayout(int n_cols, int thread, int value, int* row, int* col) {
  const int t0 = thread % 4, t1 = (thread / 4) % 8, t2 = thread / 32;
  const int v0 = value % 2, v1 = (value / 2) % 2, v2 = value / 4;
  (void)n_cols;
  const int idx = 128 * t0 + 1 * t1 + 16 * t2 + 64 * v0 + 8 * v1 + 512 * v2;
  *row = idx % 64;
  *col = idx / 64;
}

void check_fragment_layout() {
  char buf[160];
  for (int n : {8, 16, 32, 64, 128, 256}) {
    const int regs = accumulator_registers(n);
    if (regs * WARPGROUP_THREADS != WGMMA_M * n) fail("fragment size", "registers x threads != 64 x N");
    std::vector<int> hits(static_cast<size_t>(WGMMA_M * n), 0);
    for (int t = 0; t < WARPGROUP_THREADS; ++t) {
      for (int r = 0; r < regs; ++r) {
        const int row = accumulator_base_row(t) + accumulator_row_offset(r);
        const int col = accumulator_base_col(t) + accumulator_col_offset(r);
        if (row < 0 || row >= WGMMA_M || col < 0 || col >= n) {
          std::snprintf(buf, sizeof buf, "n=%d thread %d reg %d -> (%d,%d) outside 64x%d", n, t, r, row, col, n);
          fail("fragment map range", buf);
          return;
        }
        ++hits[static_cast<size_t>(row * n + col)];
        int crow, ccol;
        cute_clayout(n, t, r, &crow, &ccol);
        if (crow != row || ccol != col) {
          std::snprintf(buf, sizeof buf, "n=%d thread %d reg %d: ours (%d,%d), CuTe (%d,%d)", n, t, r, row, col, crow, ccol);
          fail("fragment map vs CLayout_64xN", buf);
          return;
        }
      }
    }
    for (int h : hits) {
      if (h != 1) {
        std::snprintf(buf, sizeof buf, "n=%d: an element held %d times", n, h);
        fail("fragment map bijection", buf);
        return;
      }
    }
  }
  // The epilogue stores registers in pairs (r, r + 1): same row, adjacent columns, r even.
  for (int r = 0; r < accumulator_registers(128); r += 2) {
    if (accumulator_row_offset(r) != accumulator_row_offset(r + 1) || accumulator_col_offset(r + 1) != accumulator_col_offset(r) + 1 ||
        accumulator_col_offset(r) % 2 != 0) {
      fail("fragment pairs", "registers r, r+1 are not one row's adjacent even/odd columns");
      return;
    }
  }
}

// For real shapes: every element of every tile is held by exactly one
// (warpgroup, thread, register), and the scale indices the kernel derives
// for that register (row0/row1 by row offset, B by the tile's first column)
// are the ones of the element's own row and column.
template <typename Cfg>
void check_tile_coverage_and_scales(const char* name, int64_t m, int64_t n, int64_t k) {
  char buf[200];
  const int64_t scale_k = ceil_div<int64_t>(k, FP8_SCALE_BLOCK);
  const TileScheduler tiles(m, n, Cfg::BLOCK_M, Cfg::BLOCK_N, Cfg::GROUP_N);
  std::vector<uint8_t> hits(static_cast<size_t>(Cfg::BLOCK_M * Cfg::BLOCK_N));
  for (int64_t t = 0; t < tiles.num_tiles(); ++t) {
    const OutputTile tile = tiles.tile(t);
    const int64_t m0 = static_cast<int64_t>(tile.m_block) * Cfg::BLOCK_M;
    const int64_t n0 = static_cast<int64_t>(tile.n_block) * Cfg::BLOCK_N;
    std::fill(hits.begin(), hits.end(), 0);
    for (int wg = 0; wg < Cfg::NUM_MATH_WARPGROUPS; ++wg) {
      for (int th = 0; th < WARPGROUP_THREADS; ++th) {
        // As the kernel computes them.
        const int64_t row0 = m0 + Cfg::warpgroup_row(wg) + accumulator_base_row(th);
        const int64_t row1 = row0 + 8;
        const int64_t col_base = n0 + Cfg::warpgroup_col(wg) + accumulator_base_col(th);
        for (int r = 0; r < Cfg::ACCUM_REGISTERS; ++r) {
          const int64_t row = accumulator_row_offset(r) == 0 ? row0 : row1;
          const int64_t col = col_base + accumulator_col_offset(r);
          // Independently: the element this register holds.
          const int64_t want_row = m0 + Cfg::warpgroup_row(wg) + accumulator_base_row(th) + accumulator_row_offset(r);
          const int64_t want_col = n0 + Cfg::warpgroup_col(wg) + accumulator_base_col(th) + accumulator_col_offset(r);
          if (row != want_row || col != want_col) {
            fail("register row/col", name);
            return;
          }
          const int64_t lr = row - m0, lc = col - n0;
          if (lr < 0 || lr >= Cfg::BLOCK_M || lc < 0 || lc >= Cfg::BLOCK_N) {
            std::snprintf(buf, sizeof buf, "%s m=%lld n=%lld: wg %d thread %d reg %d outside the tile", name, static_cast<long long>(m),
                          static_cast<long long>(n), wg, th, r);
            fail("tile coverage", buf);
            return;
          }
          ++hits[static_cast<size_t>(lr * Cfg::BLOCK_N + lc)];
          if (row >= m || col >= n) continue;  // padding: computed, never stored or scaled from memory
          for (int64_t kb = 0; kb < scale_k; ++kb) {
            const int64_t a_idx = fp8_gemm_v3_a_scale_index(row, kb, scale_k);
            const int64_t b_idx = fp8_gemm_v3_b_scale_index(n0 / FP8_SCALE_BLOCK, kb, scale_k);
            const int64_t want_a = want_row * scale_k + kb;                      // a_scales[row, kb]
            const int64_t want_b = (want_col / FP8_SCALE_BLOCK) * scale_k + kb;  // b_scales[col / 128, kb]
            if (a_idx != want_a || b_idx != want_b) {
              std::snprintf(buf, sizeof buf, "%s m=%lld n=%lld k=%lld: (%lld,%lld) kb %lld: a %lld vs %lld, b %lld vs %lld", name,
                            static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k), static_cast<long long>(row),
                            static_cast<long long>(col), static_cast<long long>(kb), static_cast<long long>(a_idx),
                            static_cast<long long>(want_a), static_cast<long long>(b_idx), static_cast<long long>(want_b));
              fail("scale indices", buf);
              return;
            }
            if (a_idx < 0 || a_idx >= m * scale_k || b_idx < 0 || b_idx >= ceil_div<int64_t>(n, FP8_SCALE_BLOCK) * scale_k) {
              fail("scale index range", name);
              return;
            }
          }
        }
      }
    }
    for (uint8_t h : hits) {
      if (h != 1) {
        std::snprintf(buf, sizeof buf, "%s m=%lld n=%lld: a tile element held %d times", name, static_cast<long long>(m),
                      static_cast<long long>(n), h);
        fail("tile coverage", buf);
        return;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
  }
  // The vitest run's MOEKIT_TEST_SEED (tests/helpers/rng.ts), else a fixed one.
  const char* seed_text = std::getenv("MOEKIT_TEST_SEED");
  const uint32_t seed = seed_text && *seed_text ? static_cast<uint32_t>(std::strtoul(seed_text, nullptr, 10)) : 1234u;
  check_descriptor_fields(quick, seed);
  check_swizzle();
  check_fragment_layout();
  check_operand_reads<Fp8GemmV3Large>("large");
  check_operand_reads<Fp8GemmV3Small>("small");
  check_smem_plan<Fp8GemmV3Large>("large");
  check_smem_plan<Fp8GemmV3Small>("small");
  const int64_t shapes[][3] = {{1, 1, 16},     {1, 129, 16},    {65, 100, 144}, {127, 257, 1000}, {129, 128, 128},
                               {64, 2112, 272}, {300, 333, 4096}, {4, 7168, 2048}};
  for (const auto& s : shapes) {
    check_tile_coverage_and_scales<Fp8GemmV3Large>("large", s[0], s[1], s[2]);
    check_tile_coverage_and_scales<Fp8GemmV3Small>("small", s[0], s[1], s[2]);
  }
  if (g_failures) {
    std::fprintf(stderr, "%d failure(s) (seed %u: rerun with MOEKIT_TEST_SEED=%u)\n", g_failures, seed, seed);
    return 1;
  }
  std::printf("sm90 wgmma layout: ok\n");
  return 0;
}
