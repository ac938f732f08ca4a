// Tile constants and the shared-memory plan of mla.decode v3
// (cuda/mla/sm90/decode_v3.cu, sm_90a).
#pragma once

#include <cstdint>

#include "../../../native/ops/mla/cache_layout.h"

namespace moekit {

// Query rows (query token x head pairs of one sequence) per block: one
// wgmma M of 64.
constexpr int MLA_DECODE_V3_ROWS = 64;
// Keys per tile: one page (v3 takes page size 64 only), loaded by TMA.
constexpr int MLA_DECODE_V3_PAGE = 64;
// A row of q or of the cache is nine 64-column (128-byte) blocks, each
// stored as its own 128B-swizzled [64 rows x 128 bytes] tile: the box a
// TMA load with CU_TENSOR_MAP_SWIZZLE_128B can write, and the K-major
// operand a wgmma descriptor reads.
constexpr int MLA_DECODE_V3_COL_BLOCK = 64;
constexpr int MLA_DECODE_V3_COL_BLOCKS = MLA_HEAD / MLA_DECODE_V3_COL_BLOCK;   // 9
constexpr int MLA_DECODE_V3_V_BLOCKS = MLA_LATENT / MLA_DECODE_V3_COL_BLOCK;   // 8: V is the first 512 columns
constexpr uint32_t MLA_DECODE_V3_BLOCK_BYTES = 64 * 128;                       // one swizzled [64 x 64] bf16 tile
constexpr uint32_t MLA_DECODE_V3_TILE_BYTES = MLA_DECODE_V3_COL_BLOCKS * MLA_DECODE_V3_BLOCK_BYTES;  // q, or one page

// Two math warpgroups, each computing the 64 x 64 scores (the same ones:
// each keeps its own softmax state) and 256 of the 512 output columns
// (m64n256: 128 f32 accumulators a thread); a third warpgroup is the
// producer, of which one thread issues the TMA loads and one warp
// zero-fills the rows of masked keys.
constexpr int MLA_DECODE_V3_MATH_WARPGROUPS = 2;
constexpr int MLA_DECODE_V3_THREADS = (MLA_DECODE_V3_MATH_WARPGROUPS + 1) * 128;
constexpr int MLA_DECODE_V3_OUT_COLS = MLA_LATENT / MLA_DECODE_V3_MATH_WARPGROUPS;  // 256 per math warpgroup
constexpr uint32_t MLA_DECODE_V3_PRODUCER_REGISTERS = 40;
constexpr uint32_t MLA_DECODE_V3_MATH_REGISTERS = 232;

// Page stages in flight. A stage is 72 KiB; with q (72 KiB) and the two
// warpgroups' probability tiles (8 KiB each) a second stage would exceed
// the 227 KiB an H100 block may use, so one stage: the loads of page i + 1
// wait for page i's products (keeping P in registers, wgmma's register-A
// form, would free the room for two).
constexpr int MLA_DECODE_V3_STAGES = 1;
constexpr uint32_t MLA_DECODE_V3_P_BYTES = MLA_DECODE_V3_ROWS * MLA_DECODE_V3_PAGE * 2;  // bf16 [64 x 64], one 128B row each

// Layout from a 1024-byte-aligned base: q, the stages, P per math
// warpgroup, then the mbarriers (full, ready and empty per stage).
constexpr uint32_t MLA_DECODE_V3_Q_OFFSET = 0;
constexpr uint32_t MLA_DECODE_V3_STAGE_OFFSET = MLA_DECODE_V3_TILE_BYTES;
constexpr uint32_t MLA_DECODE_V3_P_OFFSET = MLA_DECODE_V3_STAGE_OFFSET + MLA_DECODE_V3_STAGES * MLA_DECODE_V3_TILE_BYTES;
constexpr uint32_t MLA_DECODE_V3_BARRIER_OFFSET = MLA_DECODE_V3_P_OFFSET + MLA_DECODE_V3_MATH_WARPGROUPS * MLA_DECODE_V3_P_BYTES;
constexpr uint32_t MLA_DECODE_V3_SMEM_BYTES = 1024 /* alignment slack */ + MLA_DECODE_V3_BARRIER_OFFSET + 3 * MLA_DECODE_V3_STAGES * 8;

static_assert(MLA_HEAD % MLA_DECODE_V3_COL_BLOCK == 0 && MLA_LATENT % MLA_DECODE_V3_COL_BLOCK == 0, "whole column blocks");
static_assert(MLA_DECODE_V3_OUT_COLS == 256, "one m64n256 product per math warpgroup and k16 step");
static_assert(MLA_DECODE_V3_SMEM_BYTES <= 227 * 1024, "an H100 block's shared memory");
static_assert(MLA_DECODE_V3_PRODUCER_REGISTERS * 128 + MLA_DECODE_V3_MATH_WARPGROUPS * MLA_DECODE_V3_MATH_REGISTERS * 128 <= 65536,
              "the register file");

}  // namespace moekit
