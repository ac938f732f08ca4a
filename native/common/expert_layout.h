// Buffer sizes for outputs whose row counts only the device knows.
//
// MoE routing decides each expert's row count on the GPU, but an op's
// outputs are allocated when it is called, before that work runs, and the
// JS thread never waits for the device. So such outputs take their worst
// case over every possible routing, and the counts stay on the device
// (docs/architecture.md, "Sizes only the device knows"):
//
// - contiguous layout: rows in expert order, each expert's segment padded
//   to `align` rows so that no GEMM tile straddles two experts; padding
//   rows are marked and skipped;
// - masked layout (decode, where most experts get 0–8 rows):
//   [experts, max_rows, hidden] with the per-expert counts on the device.
#pragma once

#include <algorithm>
#include <cstdint>

#include "hd.h"

namespace moekit {

// `rows` rounded up to a multiple of `align` (align >= 1).
MOEKIT_HD int64_t padded_rows(int64_t rows, int64_t align) { return (rows + align - 1) / align * align; }

// The most rows the contiguous layout can need: `tokens` tokens each pick
// `top_k` distinct experts of `experts`, and each non-empty expert's segment
// is padded to `align`. Each segment adds at most align - 1 padding rows,
// and at most min(experts, tokens * top_k) segments are non-empty, so
//   tokens·top_k + min(experts, tokens·top_k)·(align − 1),
// which a routing reaches whenever every used expert gets 1 mod align rows.
// False when a size is negative or the count overflows int64.
inline bool contiguous_rows_worst_case(int64_t tokens, int64_t top_k, int64_t experts, int64_t align, int64_t* rows) {
  if (tokens < 0 || top_k < 0 || experts < 0 || align < 1) return false;
  int64_t picks = 0, padding = 0, total = 0;
  if (__builtin_mul_overflow(tokens, top_k, &picks)) return false;
  if (__builtin_mul_overflow(std::min(experts, picks), align - 1, &padding)) return false;
  if (__builtin_add_overflow(picks, padding, &total)) return false;
  *rows = total;
  return true;
}

// The most rows one expert can get in the masked layout: a token picks an
// expert at most once, so never more than `tokens`.
inline int64_t masked_rows_worst_case(int64_t tokens) { return tokens; }

}  // namespace moekit
