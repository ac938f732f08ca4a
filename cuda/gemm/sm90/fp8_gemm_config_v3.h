// Tile configurations of fp8Gemm v3 (fp8_gemm_v3.cu), their shared
// memory and register budgets, and the index math that places each math
// warpgroup and its scales in a tile. Host-includable, so the host checks
// (tests/native/sm90_*_check.cc) see the same numbers as the kernel.
//
// One stage holds one 128-wide K block of the A tile (BLOCK_M x 128 bytes)
// and of the B tile (BLOCK_N x 128 bytes): exactly one scale block, so each
// stage is four wgmma k32 steps into a fresh partial accumulator followed by
// the promotion acc += partial * sa[row, kb] * sb[n0 / 128, kb].
// Three warpgroups: two math warpgroups and one producer (its first thread
// issues the TMA loads). The math warpgroups tile the block as
// (BLOCK_M / 64) x (2 / (BLOCK_M / 64)): two 64-row halves of a 128-row tile,
// or two column halves of a 64-row tile.
#pragma once

#include <cstdint>

#include "../../../native/common/hd.h"
#include "../../common/sm90/accumulator_layout.h"
#include "../../common/sm90/swizzle.h"
#include "../../../native/common/fp8_block.h"

namespace moekit {

constexpr uint32_t SM90_MAX_SMEM_PER_BLOCK = 232448;  // 227 KB: the opt-in limit of a block on sm_90
constexpr uint32_t SM90_REGISTERS_PER_SM = 65536;

template <int BLOCK_M_, int BLOCK_N_, int NUM_STAGES_>
struct Fp8GemmV3Config {
  static constexpr int BLOCK_M = BLOCK_M_;
  static constexpr int BLOCK_N = BLOCK_N_;
  static constexpr int BLOCK_K = 128;
  static constexpr int NUM_STAGES = NUM_STAGES_;
  static constexpr int GROUP_N = 16;  // tile columns per band of the tile walk (L2 reuse)

  static constexpr int WGMMA_M = sm90::WGMMA_M;
  static constexpr int WGMMA_K = 32;  // FP8 wgmma
  static constexpr int K_STEPS = BLOCK_K / WGMMA_K;
  static constexpr int NUM_MATH_WARPGROUPS = 2;
  static constexpr int MATH_THREADS = NUM_MATH_WARPGROUPS * sm90::WARPGROUP_THREADS;
  static constexpr int MATH_WARPS = MATH_THREADS / 32;
  static constexpr int NUM_THREADS = MATH_THREADS + sm90::WARPGROUP_THREADS;  // + the producer warpgroup
  static constexpr int PRODUCER_THREAD = MATH_THREADS;                       // its first thread
  static constexpr int WARPGROUP_ROWS = BLOCK_M / WGMMA_M;                    // math warpgroups along M
  static constexpr int WARPGROUP_COLS = NUM_MATH_WARPGROUPS / WARPGROUP_ROWS; // ... and along N
  static constexpr int WARPGROUP_N = BLOCK_N / WARPGROUP_COLS;               // wgmma N of each
  static constexpr int ACCUM_REGISTERS = sm90::accumulator_registers(WARPGROUP_N);

  // Shared memory: the stages (A then B in each), then the full and empty
  // barriers, plus slack to align the dynamic base to the swizzle pattern.
  static constexpr uint32_t A_STAGE_BYTES = BLOCK_M * BLOCK_K;  // FP8: one byte per element
  static constexpr uint32_t B_STAGE_BYTES = BLOCK_N * BLOCK_K;
  static constexpr uint32_t STAGE_BYTES = A_STAGE_BYTES + B_STAGE_BYTES;
  static constexpr uint32_t BARRIER_BYTES = 2 * NUM_STAGES * sizeof(uint64_t);  // an mbarrier is one 64-bit word
  static constexpr uint32_t ALIGN_SLACK = sm90::SWIZZLE_128B_PATTERN_BYTES;
  static constexpr uint32_t SMEM_BYTES = ALIGN_SLACK + NUM_STAGES * STAGE_BYTES + BARRIER_BYTES;

  // Registers per thread after setmaxnreg: the producer needs a few for
  // addresses and loop counters, the math warpgroups hold the f32
  // accumulator and the partial (2 * ACCUM_REGISTERS) plus addressing.
  static constexpr uint32_t PRODUCER_REGISTERS = 40;
  static constexpr uint32_t MATH_REGISTERS = 232;

  static_assert(BLOCK_K == FP8_SCALE_BLOCK, "a stage must be exactly one scale block for the per-stage promotion");
  static_assert(BLOCK_K == sm90::SWIZZLE_128B_ROW_BYTES, "a tile row (BLOCK_K FP8 bytes) must be one 128B swizzle row");
  static_assert(BLOCK_M == 64 || BLOCK_M == 128, "one or two 64-row wgmma tiles per block");
  static_assert(NUM_MATH_WARPGROUPS % WARPGROUP_ROWS == 0, "the math warpgroups must tile the block");
  static_assert(FP8_SCALE_BLOCK % BLOCK_N == 0, "a tile's columns must share one B scale row per K block");
  static_assert(WARPGROUP_N == 16 || WARPGROUP_N == 32 || WARPGROUP_N == 64 || WARPGROUP_N == 128,
                "wgmma.cuh instantiates m64n{16,32,64,128}k32");
  static_assert(WARPGROUP_N * BLOCK_K % sm90::SWIZZLE_128B_PATTERN_BYTES == 0,
                "a warpgroup's B rows must start on a swizzle pattern (descriptor base offset 0)");
  static_assert(WGMMA_M * BLOCK_K % sm90::SWIZZLE_128B_PATTERN_BYTES == 0,
                "a warpgroup's A rows must start on a swizzle pattern (descriptor base offset 0)");
  static_assert(STAGE_BYTES % sm90::SWIZZLE_128B_PATTERN_BYTES == 0 && A_STAGE_BYTES % sm90::SWIZZLE_128B_PATTERN_BYTES == 0,
                "every stage buffer must start on a 1024-byte boundary for the 128B swizzle");
  static_assert(BLOCK_M <= 256 && BLOCK_N <= 256, "a TMA box dimension is at most 256");
  static_assert(NUM_STAGES >= 2, "the pipeline needs at least two stages");
  static_assert(SMEM_BYTES <= SM90_MAX_SMEM_PER_BLOCK, "shared memory over the 227 KB a block may have");
  static_assert(PRODUCER_REGISTERS * sm90::WARPGROUP_THREADS + MATH_REGISTERS * MATH_THREADS <= SM90_REGISTERS_PER_SM,
                "the warpgroups' register budgets exceed the register file");
  static_assert(2 * ACCUM_REGISTERS + 48 <= static_cast<int>(MATH_REGISTERS),
                "accumulator + partial leave too few registers for addressing");

  // Where math warpgroup `wg` (0 or 1) sits in the block tile.
  MOEKIT_HD static constexpr int warpgroup_row(int wg) { return (wg / WARPGROUP_COLS) * WGMMA_M; }
  MOEKIT_HD static constexpr int warpgroup_col(int wg) { return (wg % WARPGROUP_COLS) * WARPGROUP_N; }
  // Byte offsets of its A rows and B rows inside a stage's A and B buffers.
  MOEKIT_HD static constexpr uint32_t warpgroup_a_offset(int wg) { return static_cast<uint32_t>(warpgroup_row(wg)) * BLOCK_K; }
  MOEKIT_HD static constexpr uint32_t warpgroup_b_offset(int wg) { return static_cast<uint32_t>(warpgroup_col(wg)) * BLOCK_K; }
};

// M > 64: two 64-row halves, 128 columns; six 32 KB stages.
using Fp8GemmV3Large = Fp8GemmV3Config<128, 128, 6>;
// M <= 64 (decode): memory-bound, so narrow tiles (more of them to spread
// B's bytes over more multiprocessors) and deep pipelining; 12 KB stages.
using Fp8GemmV3Small = Fp8GemmV3Config<64, 32, 10>;

// Scale indices, as the kernel computes them: A's scale of output row `row`
// for K block kb, and the B scale every column of a tile uses, from its
// scale row (GemmTile::b_scale_row: tile_n0 / 128 for the normal GEMM, the
// tile's columns sharing one 128-row block of B).
MOEKIT_HD constexpr int64_t fp8_gemm_v3_a_scale_index(int64_t row, int64_t kb, int64_t scale_k) { return row * scale_k + kb; }
MOEKIT_HD constexpr int64_t fp8_gemm_v3_b_scale_index(int64_t scale_row, int64_t kb, int64_t scale_k) { return scale_row * scale_k + kb; }

}  // namespace moekit
