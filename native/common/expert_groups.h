// The expert layout a GEMM runs over: one GEMM (no groups), or one per MoE
// expert with the experts' rows stacked in A and C and their weights
// stacked in B (moe.groupedGemm). Part of the GEMM params structs
// (GemmParams, Fp8GemmParams), so every GEMM path runs each layout with the
// same kernel; only the tile scheduler reads it (cuda/common/
// grouped_tiles.h says how a tile finds its expert).
//
//   none:        C [m, n] = A [m, k] · B [n, k]^T.
//   contiguous:  A [m, k] rows in expert order: expert e owns rows
//                offsets[e] .. offsets[e + 1] - 1 (moe.permute's layout),
//                of which only the first counts[e] are computed when
//                `counts` is given (the rest are padding). B [experts * n, k]:
//                expert e's weights are rows e * n .. (e + 1) * n - 1.
//   masked:      A [experts * max_rows, k]: expert e owns rows
//                e * max_rows .. e * max_rows + counts[e] - 1 (DeepGEMM's
//                masked layout, for decode). B as above.
//
// offsets and counts live on the device (the host never waits to read
// them); the kernels clamp them into [0, m] so that no value can make a
// kernel touch memory outside A, B or C. Values outside the contract give
// unspecified rows, never out-of-bounds accesses.
#pragma once

#include <cstdint>

#include "hd.h"

namespace moekit {

enum class GroupLayout : int32_t { None, Contiguous, Masked };

struct ExpertGroups {
  GroupLayout layout = GroupLayout::None;
  const int32_t* offsets = nullptr;  // contiguous: [experts + 1] i32
  const int32_t* counts = nullptr;   // contiguous: [experts] i32 or null (whole segments); masked: [experts] i32
  int32_t experts = 1;               // 1 for GroupLayout::None
  int64_t max_rows = 0;              // masked: rows per expert in A and C
};

// Rows of B: one [n, k] weight matrix per expert, [2n, k] (gate rows, then
// up rows) for a SwiGLU-gated GEMM.
MOEKIT_HD int64_t gemm_b_rows(const ExpertGroups& g, int64_t n, bool gated) {
  return (g.layout == GroupLayout::None ? 1 : g.experts) * (gated ? 2 * n : n);
}

}  // namespace moekit
