// moe.groupedGemm: one GEMM per MoE expert in one launch,
//   out[rows of expert e, n] = x[rows of expert e, K] · w[e][n, K]^T
// (times row_scale[row] when given), over the expert layouts of
// native/common/expert_groups.h: contiguous (moe.permute's offsets, with
// optional counts marking padding) or masked ([E, max_rows, K] with
// per-expert counts, for decode). With `gated` (options.swiglu), w holds
// each expert's [gate; up] rows, [2n, K], and the epilogue writes
// silu(x · gateᵀ) ⊙ (x · upᵀ): W13 of the MoE FFN with its activation
// fused. BF16/F16/F32 operands, or FP8 with x
// quantized 1x128 and w quantized 128x128 per expert (fp8Gemm's math, with
// its promotion every 128). Rows of out that no expert computes (padding,
// rows past offsets[E], masked rows past a count) are zero.
//
// Not a kernel of its own: every version runs a GEMM path of the gemm
// family (gemm.h, fp8_gemm.h) with the grouped tile scheduler
// (cuda/common/tile_scheduler.h), so each expert's rows are tiles of the
// same mainloop:
//   v1: SIMT (gemm v1 / fp8Gemm v1)
//   v2: mma.sync (gemm v2 / fp8Gemm v2)
//   v3: FP8 e4m3 only: TMA + wgmma, persistent (fp8Gemm v3), sm_90a
//
//   kernels:  cuda/moe/grouped_gemm.cu (the launchers), cuda/gemm/
//   CPU twin: native/cpu/moe/grouped_gemm.cc (the CPU gemm per expert)
//   tests:    tests/moe/grouped_gemm.test.ts, tests/native/grouped_tiles_check.cc
//   bench:    bench/moe/grouped_gemm.bench.ts
#pragma once

#include "../../common/stream.h"
#include "../gemm/fp8_gemm.h"
#include "../gemm/gemm.h"

namespace moekit {

struct GroupedGemmParams {
  bool fp8;           // which of the two below describes the call
  GemmParams gemm;    // bf16/f16/f32: groups set, b = w [E * n, k]
  Fp8GemmParams fp8_gemm;  // FP8: groups set, b_scales [E * ceil(n / 128), scale_k]
};

void grouped_gemm_cpu(const GroupedGemmParams& p);
void grouped_gemm_v1(const GroupedGemmParams& p, cudaStream_t stream);
void grouped_gemm_v2(const GroupedGemmParams& p, cudaStream_t stream);
void grouped_gemm_v3(const GroupedGemmParams& p, cudaStream_t stream);
const char* grouped_gemm_v1_unsupported(const GroupedGemmParams& p);
const char* grouped_gemm_v2_unsupported(const GroupedGemmParams& p);
const char* grouped_gemm_v3_unsupported(const GroupedGemmParams& p);

}  // namespace moekit
