// cuBLASLt matmuls for the baselines: row-major C[m,n] = A[m,k]·B[n,k]ᵀ
// (docs/architecture.md, "Numeric conventions"'s "NT" GEMM), in bf16/f16 or FP8 with per-tensor or
// 1x128/128x128 block scales.
//
// cuBLASLt is column-major. A row-major [r, c] matrix is the column-major
// [c, r] one, so C (column-major N×M) = B·Aᵀ: cuBLASLt's "A" is our B read
// as column-major K×N with TRANSA=T, its "B" is our A read as column-major
// K×M with TRANSB=N, its D is our C with ld = N. That is the TN form, the
// only one cuBLASLt runs FP8 in on sm_89/sm_90.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "../core/device.h"
#include "cublaslt_loader.h"

namespace moekit {

enum class LtScaling {
  None,    // bf16/f16 operands
  Tensor,  // FP8, one f32 dequantization scale per operand (SCALAR_32F)
  Block,   // FP8, 1x128 scales for A and 128x128 for B (VEC128_32F / BLK128x128_32F)
};

struct LtMatmulProblem {
  const void* a;  // [m, k] row-major, of ab_type
  const void* b;  // [n, k] row-major, of ab_type
  void* c;        // [m, n] row-major, of c_type
  cublaslt::DataType ab_type;
  cublaslt::DataType c_type;
  int64_t m;
  int64_t n;
  int64_t k;
  LtScaling scaling = LtScaling::None;
  // Device f32 dequantization scales (x ≈ code · scale), in cuBLASLt's
  // layouts (cuda/baselines/fp8_scale_layout.h); null for LtScaling::None.
  const float* a_scales = nullptr;  // Tensor: [1]; Block: [ceil(k/128), m]
  const float* b_scales = nullptr;  // Tensor: [1]; Block: [ceil(n/128), round_up(ceil(k/128), 4)]
};

// cuBLASLt state of one CUDA device: the library handle and a workspace,
// kept for the life of the process, and the algorithms already chosen.
class CublasLtContext {
 public:
  // JS thread: allocates the workspace on `device` (throws Error(OutOfMemory)).
  CublasLtContext(Device& device, const CublasLtLibrary& library);
  CublasLtContext(const CublasLtContext&) = delete;
  CublasLtContext& operator=(const CublasLtContext&) = delete;

  // Queue thread of the device only: issues the matmul on `stream`. The
  // handle is created on first use, on this thread (the device's context is
  // current there). Throws Error(Unsupported) when cuBLASLt has no
  // algorithm for the problem, Error(Cuda) for other cuBLASLt failures.
  void matmul(const LtMatmulProblem& p, void* stream);

 private:
  struct PlanKey {
    int64_t m, n, k;
    int32_t ab_type, c_type, scaling;
    uint32_t align_a, align_b, align_c;
    bool operator<(const PlanKey& o) const;
  };

  std::string describe(const LtMatmulProblem& p) const;

  const cublaslt::Api& api_;
  std::string library_text_;  // "cuBLASLt 12.9.1 (path)", for messages
  std::shared_ptr<Storage> workspace_;
  void* workspace_data_ = nullptr;  // workspace_ rounded up to cuBLASLt's alignment
  cublaslt::Handle handle_ = nullptr;
  // Heuristic choices by problem: cublasLtMatmulAlgoGetHeuristic costs far
  // more host time than small matmuls take on the GPU.
  std::map<PlanKey, cublaslt::MatmulAlgo> plans_;
};

// The context of `device` (a CUDA device), created on first use and kept.
// JS thread; `library` must be loaded.
std::shared_ptr<CublasLtContext> cublaslt_context(Device& device, const CublasLtLibrary& library);

}  // namespace moekit
