// fp8Gemm: C[m, n] = sum over K-blocks kb of
//            (A[m, kb] · B[n, kb]^T) * a_scales[m, kb] * b_scales[n / 128, kb]
// with A quantized 1x128 and B 128x128 (docs/architecture.md, "Numeric conventions"). Each 128-wide
// K block is accumulated on its own in f32, then multiplied by the two
// scales and added into the f32 accumulator: the "promotion every 128" that
// keeps FP8 tensor-core accumulation accurate. A ragged last K block holds
// only the real elements.
//   v1: tiled SIMT, FP8 decoded to bf16 in shared memory, f32 FMA; any sm >= 80
//   v2: mma.sync: e4m3/e5m2 m16n8k32 on sm_89+, FP8 decoded to bf16 for bf16 m16n8k16 on sm_80
//   v3: sm_90a: TMA loads, wgmma from shared memory, warp-specialized producer/consumer
//       warpgroups, multi-stage pipeline, persistent tile scheduler
//
//   kernels:  cuda/gemm/fp8_gemm_v1.cu, fp8_gemm_v2.cu, sm90/fp8_gemm_v3.cu
//   CPU twin: native/cpu/gemm/fp8_gemm.cc
//   tests:    tests/gemm/fp8_gemm.test.ts
//   bench:    bench/gemm/fp8_gemm.bench.ts
#pragma once

#include <cstdint>

#include "../../common/dtype.h"
#include "../../common/expert_groups.h"
#include "../../common/fp8_block.h"
#include "../../common/stream.h"

namespace moekit {

struct Fp8GemmParams {
  const uint8_t* a;        // [m, k] FP8 codes of a_format, row-major
  const float* a_scales;   // [m, scale_k] row-major: one scale per row per 128 K
  const uint8_t* b;        // [n, k] FP8 codes of b_format, row-major
  const float* b_scales;   // [ceil(n / 128), scale_k] row-major; grouped: [experts * ceil(n / 128), scale_k]
  void* c;                 // [m, n] row-major, c_dtype
  int64_t m;
  int64_t n;
  int64_t k;               // >= 0 (k == 0 gives zeros)
  int64_t scale_k;         // ceil(k / 128)
  DType a_format;          // E4M3 or E5M2
  DType b_format;          // E4M3 or E5M2
  DType c_dtype;           // BF16 or F32
  int num_sms;             // multiprocessors of the device (persistent schedules)
  ExpertGroups groups;     // as in GemmParams (gemm.h)
  const float* row_scale;  // as in GemmParams
  bool gated;              // as in GemmParams; b_scales then cover the [2n, k] of each expert
};

void fp8_gemm_cpu(const Fp8GemmParams& p);
void fp8_gemm_v1(const Fp8GemmParams& p, cudaStream_t stream);
void fp8_gemm_v2(const Fp8GemmParams& p, cudaStream_t stream);
void fp8_gemm_v3(const Fp8GemmParams& p, cudaStream_t stream);
// Why a version cannot run p; nullptr when it can.
const char* fp8_gemm_v1_unsupported(const Fp8GemmParams& p);
const char* fp8_gemm_v2_unsupported(const Fp8GemmParams& p);
const char* fp8_gemm_v3_unsupported(const Fp8GemmParams& p);

}  // namespace moekit
