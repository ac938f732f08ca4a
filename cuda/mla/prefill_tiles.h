// Which work a block of mla.prefill does (cuda/mla/prefill_v1.cu): the tile
// scheduler over the packed variable-length sequences of cu_seq_lens.
// __host__ __device__ and free of CUDA, so
// tests/native/mla_prefill_tiles_check.cc walks it on the CPU.
//
// Query tiles are numbered like the row tiles of the grouped GEMM's
// contiguous layout (cuda/common/grouped_tiles.h, whose arithmetic this
// reuses, with the sequences as the "experts"): sequence b's tiles start at
// floor(cu[b] / block_m) + b, so the host sizes the grid as
// floor(T / block_m) + B tiles without reading cu_seq_lens, no tile
// straddles two sequences, and positions with no queries behind them are
// empty (the block returns at once). cu values are clamped into [0, T].
//
// A query tile [q0, q1) of the sequence [start, end) visits the keys
// [start, k_end): all of the sequence, or when causal (top-left aligned,
// query i sees keys start..i) up to the tile's last query, k_end = q1. Key
// tiles of block_n keys start at `start`; the last one may be partial, and
// inside the tiles the kernel masks keys past the sequence's end and, when
// causal, keys after the query.
#pragma once

#include <cstdint>

#include "../../native/common/expert_groups.h"
#include "../../native/common/hd.h"
#include "../../native/common/math.h"
#include "../common/grouped_tiles.h"

namespace moekit {

struct PrefillTile {
  int64_t start;  // the sequence's first token
  int64_t end;    // one past its last token
  int64_t q0;     // the tile's first query (absolute token index)
  int64_t q1;     // one past its last query; q0 >= q1: an empty tile
  int64_t k_end;  // one past the last key the tile visits
  int32_t seq;
};

// How many query tiles the grid numbers for `tokens` tokens in `seqs` sequences.
MOEKIT_HD int64_t prefill_query_tiles(int64_t tokens, int32_t seqs, int64_t block_m) { return tokens / block_m + seqs; }

// Query tile i (0 <= i < prefill_query_tiles(...)); reads cu_seq_lens [seqs + 1].
MOEKIT_HD PrefillTile prefill_tile(const int32_t* cu_seq_lens, int32_t seqs, int64_t tokens, int64_t block_m, bool causal, int64_t i) {
  if (seqs <= 0) return PrefillTile{0, 0, 0, 0, 0, 0};
  ExpertGroups g;
  g.layout = GroupLayout::Contiguous;
  g.offsets = cu_seq_lens;
  g.experts = seqs;
  const ExpertRowTile r = grouped_row_tile(g, tokens, block_m, i);
  PrefillTile t;
  t.seq = r.expert;
  t.start = clamp_rows(cu_seq_lens[r.expert], 0, tokens);
  t.end = r.end;
  t.q0 = r.row0;
  t.q1 = r.row0 + block_m < r.end ? r.row0 + block_m : r.end;
  t.k_end = causal ? t.q1 : t.end;
  if (t.q0 >= t.q1) t.k_end = t.start;  // empty: no keys either
  return t;
}

// Key tiles of block_n keys the tile visits.
MOEKIT_HD int64_t prefill_key_tiles(const PrefillTile& t, int64_t block_n) {
  return t.k_end > t.start ? ceil_div<int64_t>(t.k_end - t.start, block_n) : 0;
}

// Whether query q may see key k (absolute indices inside the tile's sequence).
MOEKIT_HD bool prefill_visible(const PrefillTile& t, bool causal, int64_t q, int64_t k) {
  return k >= t.start && k < t.end && (!causal || k <= q);
}

}  // namespace moekit
