// moe.combine: the expert outputs back in token order, each token's picks
// summed. For y [P, H] (rows in the permuted order of moe.permute) and
// inverse [T, K] (the row of each pick, -1 for a skipped pick):
//
//   acc = f32(shared[t, h])                       (0 without shared)
//   for k = 0 .. K - 1, in this order, skipping picks whose row r =
//   inverse[t, k] is < 0 or >= P:
//     acc = fmaf(w[t, k], f32(y[r, h]), acc)      (w = 1 without weights)
//   out[t, h] = acc rounded to out_dtype (nearest even)
//
// One fused multiply-add per pick, in f32, in that fixed order, on both
// backends (fmaf in the CUDA kernel, std::fma in the CPU twin; with w = 1
// it is the rounded sum), so CUDA and the CPU twin agree bit for bit and
// every call gives the same bits: no float atomics, no order that depends
// on scheduling. Rows are checked on the device: no row outside y is read.
//
//   v1: a warp per token (grid-stride over tokens), lanes along H (coalesced
//       rows of y), each lane summing its columns' K picks in order
//
//   kernels:  cuda/moe/combine_v1.cu
//   CPU twin: native/cpu/moe/combine.cc
//   tests:    tests/moe/combine.test.ts
//   bench:    bench/moe/combine.bench.ts
#pragma once

#include <cstdint>

#include "../../common/dtype.h"
#include "../../common/stream.h"

namespace moekit {

struct CombineParams {
  const void* y;            // [rows, hidden] of y_dtype (f32, bf16 or f16)
  const int32_t* inverse;   // [tokens, top_k] i32: the row of each pick, out of [0, rows) when skipped
  const float* weights;     // [tokens, top_k] f32, or nullptr (weight 1)
  const void* shared;       // [tokens, hidden] of shared_dtype (f32, bf16 or f16), or nullptr
  void* out;                // [tokens, hidden] of out_dtype (f32, bf16 or f16)
  DType y_dtype;
  DType shared_dtype;
  DType out_dtype;
  int64_t rows;
  int64_t tokens;
  int64_t top_k;
  int64_t hidden;
};

void combine_cpu(const CombineParams& p);
void combine_v1(const CombineParams& p, cudaStream_t stream);

}  // namespace moekit
