// moe.permute: the contiguous expert layout of the grouped GEMM
// (native/common/expert_layout.h). For ids [T, K] of E experts, with a pick
// i = t * K + k and its expert e = ids[i]:
//
//   counts[e]   how many picks chose e (ids in [0, E) only);
//   offsets     offsets[0] = 0, offsets[e + 1] = offsets[e] + padded(counts[e], align):
//               each expert's segment starts on a multiple of `align`, and
//               offsets[E] is the rows in use;
//   row_ids     [rows] the pick i at each permuted row: expert e's picks fill
//               rows offsets[e] .. offsets[e] + counts[e] - 1 in increasing i
//               (by token, then by pick: stable), its padding rows and every
//               row from offsets[E] to the end are -1;
//   inverse     [T, K] the permuted row of each pick (row_ids[inverse[i]] = i).
//
// An id outside [0, E) is skipped: it is not counted, it gets no row, and its
// inverse is -1 (so garbage ids never write outside the buffers).
//
// rows = contiguous_rows_worst_case(T, K, E, align), known to the host
// without reading the ids; the binding keeps it below 2^31.
//
// Limits: E in [1, MAX_PERMUTE_EXPERTS], K in [1, MAX_PERMUTE_TOP_K], align a
// power of two in [1, MAX_PERMUTE_ALIGN].
//
//   v1: one block, one kernel: counts by shared atomics, offsets by a serial
//       prefix sum, then the picks in chunks of the block's size in order,
//       each ranked within its chunk by a scan of the earlier picks (exact
//       and deterministic, no atomics in the order)
//
//   kernels:  cuda/moe/permute_v1.cu
//   CPU twin: native/cpu/moe/permute.cc
//   tests:    tests/moe/permute.test.ts
//   bench:    bench/moe/permute.bench.ts
#pragma once

#include <cstdint>

#include "../../common/stream.h"

namespace moekit {

constexpr int MAX_PERMUTE_EXPERTS = 512;
constexpr int MAX_PERMUTE_TOP_K = 16;
constexpr int MAX_PERMUTE_ALIGN = 1024;

struct PermuteParams {
  const int32_t* ids;  // [tokens, top_k] i32: expert ids
  int32_t* row_ids;    // [rows] i32: the pick (t * top_k + k) of each row, -1 for padding
  int32_t* offsets;    // [experts + 1] i32: segment starts, offsets[experts] = rows in use
  int32_t* counts;     // [experts] i32: picks per expert
  int32_t* inverse;    // [tokens, top_k] i32: the row of each pick, -1 for an id out of range
  int64_t tokens;
  int top_k;
  int experts;
  int align;
  int64_t rows;  // contiguous_rows_worst_case(tokens, top_k, experts, align)
};

void permute_cpu(const PermuteParams& p);
void permute_v1(const PermuteParams& p, cudaStream_t stream);

}  // namespace moekit
