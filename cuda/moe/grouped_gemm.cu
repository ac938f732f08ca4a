// moe.groupedGemm on CUDA (see native/ops/moe/grouped_gemm.h): each version
// is a GEMM path of the gemm family run with an expert layout in its
// params, which makes its launcher pick the grouped tile scheduler. No
// kernel here: the experts' tiles run in the same mainloops as a plain GEMM.
#include <cuda_runtime.h>

#include "../../native/ops/moe/grouped_gemm.h"

namespace moekit {

void grouped_gemm_v1(const GroupedGemmParams& p, cudaStream_t stream) {
  if (p.fp8) {
    fp8_gemm_v1(p.fp8_gemm, stream);
  } else {
    gemm_v1(p.gemm, stream);
  }
}

void grouped_gemm_v2(const GroupedGemmParams& p, cudaStream_t stream) {
  if (p.fp8) {
    fp8_gemm_v2(p.fp8_gemm, stream);
  } else {
    gemm_v2(p.gemm, stream);
  }
}

void grouped_gemm_v3(const GroupedGemmParams& p, cudaStream_t stream) { fp8_gemm_v3(p.fp8_gemm, stream); }

const char* grouped_gemm_v1_unsupported(const GroupedGemmParams& p) {
  return p.fp8 ? fp8_gemm_v1_unsupported(p.fp8_gemm) : gemm_v1_unsupported(p.gemm);
}

const char* grouped_gemm_v2_unsupported(const GroupedGemmParams& p) {
  return p.fp8 ? fp8_gemm_v2_unsupported(p.fp8_gemm) : gemm_v2_unsupported(p.gemm);
}

const char* grouped_gemm_v3_unsupported(const GroupedGemmParams& p) {
  return p.fp8 ? fp8_gemm_v3_unsupported(p.fp8_gemm) : "x and w must be FP8 (v3 is the wgmma FP8 path; bf16 runs on v1 and v2)";
}

}  // namespace moekit
