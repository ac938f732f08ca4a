// gemm: C[m, n] = A[m, k] · B[n, k]^T ("NT", weights stored [out, in]) for
// f32, bf16 and f16 operands with f32 accumulation (docs/architecture.md, "Numeric conventions").
//   v1: tiled SIMT FMA, any dtype, any sm >= 80
//   v2: mma.sync tensor cores, bf16/f16 operands, sm >= 80
//
//   kernels:  cuda/gemm/gemm_v1.cu, cuda/gemm/gemm_v2.cu
//   CPU twin: native/cpu/gemm/gemm.cc
//   tests:    tests/gemm/gemm.test.ts
//   bench:    bench/fp8/gemm.bench.ts (bf16 rows beside the FP8 ones)
#pragma once

#include <cstdint>

#include "../../common/dtype.h"
#include "../../common/expert_groups.h"
#include "../../common/stream.h"

namespace moekit {

struct GemmParams {
  const void* a;  // [m, k] row-major, ab_dtype
  const void* b;  // [n, k] row-major, ab_dtype
  void* c;        // [m, n] row-major, c_dtype
  int64_t m;
  int64_t n;
  int64_t k;
  DType ab_dtype;  // F32, BF16 or F16
  DType c_dtype;   // F32, BF16 or F16
  // moe.groupedGemm: the experts' layout (expert_groups.h); b is then
  // [groups.experts * n, k]. GroupLayout::None for a plain GEMM.
  ExpertGroups groups;
  // Optional [m] f32: each row of C multiplied by row_scale[row] before
  // rounding (the routing weight of a permuted row); null: no scaling.
  const float* row_scale;
  // SwiGLU fused into the epilogue: b (per expert) is [2n, k], gate rows
  // then up rows, and C[i, j] = silu(A_i · gate_j) * (A_i · up_j) with
  // silu(g) = g / (1 + exp(-g)), in f32 (cuda/common/gated_tile.h).
  bool gated;
};

void gemm_cpu(const GemmParams& p);
void gemm_v1(const GemmParams& p, cudaStream_t stream);
void gemm_v2(const GemmParams& p, cudaStream_t stream);
const char* gemm_v1_unsupported(const GemmParams& p);
const char* gemm_v2_unsupported(const GemmParams& p);

}  // namespace moekit
