// Tile constants of mla.decode v1 (cuda/mla/decode_v1.cu).
#pragma once

#include "../../native/ops/mla/cache_layout.h"

namespace moekit {

// Query rows (query token × head pairs of one sequence) per block: they all
// share every key the block loads.
constexpr int MLA_DECODE_V1_ROWS = 16;
// Keys per tile, decoded to f32 in shared memory.
constexpr int MLA_DECODE_V1_BLOCK_N = 8;
constexpr int MLA_DECODE_V1_THREADS = 256;
constexpr int MLA_DECODE_V1_WARPS = MLA_DECODE_V1_THREADS / 32;
// Output columns each thread accumulates, for every row of the block.
constexpr int MLA_DECODE_V1_COLS_PER_THREAD = MLA_LATENT / MLA_DECODE_V1_THREADS;

// Static shared memory: q rows (bf16), the key tile (f32), the tile's
// probabilities and per-row softmax state.
constexpr int MLA_DECODE_V1_SMEM_BYTES = MLA_DECODE_V1_ROWS * MLA_HEAD * 2 + MLA_DECODE_V1_BLOCK_N * MLA_HEAD * 4 +
                                         MLA_DECODE_V1_ROWS * MLA_DECODE_V1_BLOCK_N * 4 * 2 + MLA_DECODE_V1_ROWS * 4 * 4 +
                                         MLA_DECODE_V1_BLOCK_N * 8;

static_assert(MLA_LATENT % MLA_DECODE_V1_THREADS == 0, "each thread owns whole output columns");
static_assert(MLA_HEAD % 32 == 0, "a warp's lanes split a row evenly in the score dot products");
static_assert(MLA_DECODE_V1_ROWS <= MLA_DECODE_V1_THREADS && MLA_DECODE_V1_BLOCK_N <= MLA_DECODE_V1_THREADS,
              "one thread per row (softmax) and per key (addressing)");
static_assert(MLA_DECODE_V1_SMEM_BYTES <= 48 * 1024, "v1 stays within the 48 KiB of static shared memory every sm_80+ GPU gives");

}  // namespace moekit
