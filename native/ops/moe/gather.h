// moe.gather: the rows of the grouped GEMM's A operand, in the contiguous
// expert layout of moe.permute (native/ops/moe/permute.h). For x [T, H] and
// row_ids [P] (each permuted row's pick i = t * top_k + k, -1 for padding):
//
//   out[p, :] = x[row_ids[p] / top_k, :]   when 0 <= row_ids[p] < T * top_k,
//   out[p, :] = 0                          otherwise (padding, garbage ids).
//
// The ids stay on the device, so they are checked there: no id ever reads
// outside x. The copy is exact (the element bits, NaN payloads included).
//
// With `quantize`, the rows go out as FP8 with 1x128 block scales instead,
// by exactly the recipe of quantize (native/ops/fp8/quantize.h, ROW_128;
// the scale math of native/ops/fp8/scale_math.h): values [P, H] of `format`,
// scales f32 [P, ceil(H / 128)], so that gather-and-quantize equals
// quantize(gather(...), [1, 128]) bit for bit, padding rows included (zeros,
// the scale of the amax floor).
//
// With x the routing weights viewed as [T * K, 1] f32 and top_k = 1, the
// output is each permuted row's weight [P, 1] (0 on padding rows).
//
//   v1: a warp per row (grid-stride over rows), lanes along H: a raw,
//       coalesced copy of 2- or 4-byte elements; quantized, a 1x128 block per
//       step of the warp, as quantize v1 (cuda/common/row128_quantize.cuh)
//
//   kernels:  cuda/moe/gather_v1.cu
//   CPU twin: native/cpu/moe/gather.cc
//   tests:    tests/moe/gather.test.ts
//   bench:    bench/moe/gather.bench.ts
#pragma once

#include <cstdint>

#include "../../common/dtype.h"
#include "../../common/stream.h"

namespace moekit {

struct GatherParams {
  const void* x;           // [tokens, hidden] of x_dtype (f32, bf16 or f16)
  const int32_t* row_ids;  // [rows] i32: the pick of each row, out of [0, tokens * top_k) for padding
  void* out;               // [rows, hidden] of x_dtype; nullptr when quantizing
  uint8_t* values;         // [rows, hidden] FP8 codes of `format`; nullptr when not quantizing
  float* scales;           // [rows, ceil(hidden / 128)] f32; nullptr when not quantizing
  DType x_dtype;
  bool quantize;
  DType format;            // E4M3 or E5M2 when quantizing
  bool ue8m0;              // power-of-two scales
  int64_t tokens;
  int64_t hidden;
  int64_t rows;
  int64_t top_k;           // tokens * top_k fits int64 (checked by the binding)
};

void gather_cpu(const GatherParams& p);
void gather_v1(const GatherParams& p, cudaStream_t stream);

}  // namespace moekit
