// Page addressing and the split-KV schedule of mla.decode's CUDA versions
// (and mla.append's page addressing). __host__ __device__ and free of CUDA,
// so tests/native/mla_decode_check.cc walks them on the CPU: every key of a
// sequence read exactly once across its splits, no slot outside the cache.
// The CPU twins (native/cpu/mla/) address pages on their own, so a bug
// here is not shared with the reference.
//
// The schedule needs no host synchronisation: the lengths live on the
// device, so the host fixes the number of splits per sequence from sizes it
// knows (the batch, the query rows, the table's capacity and the SM count),
// and each split finds its key range on the device from the sequence's
// length. Splits past the end of a short sequence are empty; they write an
// empty partial (lse -inf), which the combine weighs 0.
#pragma once

#include <cstdint>

#include "../../native/common/hd.h"
#include "../../native/common/math.h"

namespace moekit {

// Most splits per sequence, and the fewest keys a split is given: fewer
// would make the partials' traffic (2 KiB per row and split) rival the keys'.
constexpr int MLA_MAX_SPLITS = 64;
constexpr int64_t MLA_SPLIT_MIN_KEYS = 64;

// Splits per sequence: enough blocks (batch · row_groups · splits) for about
// two waves over the SMs, each split at least MLA_SPLIT_MIN_KEYS keys of the
// table's capacity, at most MLA_MAX_SPLITS, at least 1.
MOEKIT_HD int mla_decode_splits(int64_t batch, int64_t row_groups, int64_t capacity, int sms) {
  const int64_t blocks = batch * row_groups;
  if (blocks <= 0 || capacity <= 0) return 1;
  int64_t want = ceil_div<int64_t>(2 * static_cast<int64_t>(sms > 0 ? sms : 1), blocks);
  const int64_t most = ceil_div<int64_t>(capacity, MLA_SPLIT_MIN_KEYS);
  if (want > most) want = most;
  if (want > MLA_MAX_SPLITS) want = MLA_MAX_SPLITS;
  return want < 1 ? 1 : static_cast<int>(want);
}

// A sequence's length as the kernels use it: clamped into [0, capacity].
MOEKIT_HD int64_t mla_clamped_length(int64_t len, int64_t capacity) { return len < 0 ? 0 : (len > capacity ? capacity : len); }

struct MlaKeyRange {
  int64_t begin;
  int64_t end;  // exclusive; empty when begin >= end
};

// Keys [begin, end) of split `split` of a sequence of `len` keys: equal
// chunks, each a multiple of `block_n` (so only the last tile of the
// sequence is partial), the last splits empty when the chunks run out.
MOEKIT_HD MlaKeyRange mla_split_keys(int64_t len, int splits, int split, int block_n) {
  const int64_t chunk = ceil_div<int64_t>(ceil_div<int64_t>(len, splits), block_n) * block_n;
  int64_t begin = static_cast<int64_t>(split) * chunk;
  if (begin > len) begin = len;
  int64_t end = begin + chunk;
  if (end > len) end = len;
  return {begin, end};
}

// Keys [0, limit) visible to query row `row` (query token row / heads, head
// row % heads: the rows of one sequence are its Sq x H query vectors in
// q's order) of a sequence of `len` keys: all of them, or with causal
// (aligned bottom-right) those up to position len - q_len + token, clamped
// into [0, len]; 0: the row sees no key.
MOEKIT_HD int64_t mla_visible_keys(int64_t row, int heads, int q_len, int64_t len, bool causal) {
  if (!causal) return len;
  const int64_t limit = len - q_len + row / heads + 1;
  return limit < 0 ? 0 : (limit > len ? len : limit);
}

// The cache row (page · page_size + slot) of position t of a sequence whose
// block table row is `table`, or -1 when t lies past the table or its page
// id is outside [0, blocks): such a key is masked, never read.
MOEKIT_HD int64_t mla_cache_row(const int32_t* table, int max_pages, int page_size, int64_t blocks, int64_t t) {
  if (t < 0) return -1;
  const int64_t index = t / page_size;
  if (index >= max_pages) return -1;
  const int32_t page = table[index];
  if (page < 0 || page >= blocks) return -1;
  return static_cast<int64_t>(page) * page_size + t % page_size;
}

}  // namespace moekit
