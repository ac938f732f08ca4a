// moe.swiglu: the activation between the grouped GEMMs of an expert MLP.
// For h [P, 2I] (the output of W13 = [W1; W3], gate columns [0, I), up
// columns [I, 2I)):
//
//   a[p, j] = silu(g) * u,   silu(g) = g / (1 + exp(-g)),
//   g = h[p, j], u = h[p, I + j],
//
// in f32: g and u are loaded as f32, exp is the f32 expf (the CUDA
// kernels call expf, not the approximate __expf), and the division and the
// product are f32 operations, in that order. The CPU twin computes the same
// expression; expf itself may differ by an ulp or two between the host's
// libm and CUDA's (whose expf is documented to 2 ulp), so CUDA and the twin
// agree bit for bit only where their expf agree (always, on the emulated
// GPU, which uses the host's).
//
// Output: a rounded to out_dtype (f32, bf16 or f16, nearest even), or with
// `quantize`, the f32 values a (not rounded to bf16 first) quantized by the
// 1x128 recipe of quantize (native/ops/fp8/quantize.h): values [P, I] of
// `format`, scales f32 [P, ceil(I / 128)], bit for bit as
// quantize(swiglu(h, f32), [1, 128]).
//
//   v1: a warp per row (grid-stride over rows), lanes along I, gate and up
//       loaded coalesced; quantized, a 1x128 block per step of the warp
//       (cuda/common/row128_quantize.cuh)
//
//   kernels:  cuda/moe/swiglu_v1.cu
//   CPU twin: native/cpu/moe/swiglu.cc
//   tests:    tests/moe/swiglu.test.ts
//   bench:    bench/moe/swiglu.bench.ts
#pragma once

#include <cstdint>

#include "../../common/dtype.h"
#include "../../common/stream.h"

namespace moekit {

struct SwigluParams {
  const void* h;     // [rows, 2 * inter] of h_dtype (f32, bf16 or f16)
  void* out;         // [rows, inter] of out_dtype; nullptr when quantizing
  uint8_t* values;   // [rows, inter] FP8 codes of `format`; nullptr when not quantizing
  float* scales;     // [rows, ceil(inter / 128)] f32; nullptr when not quantizing
  DType h_dtype;
  DType out_dtype;   // f32, bf16 or f16 (unused when quantizing)
  bool quantize;
  DType format;      // E4M3 or E5M2 when quantizing
  bool ue8m0;        // power-of-two scales
  int64_t rows;
  int64_t inter;     // I: half of h's last dimension
};

void swiglu_cpu(const SwigluParams& p);
void swiglu_v1(const SwigluParams& p, cudaStream_t stream);

}  // namespace moekit
