// cuBLAS's grouped GEMM for the baselines: the problems of one call, each
// row-major C_i[m_i, n] = A_i[m_i, k]·B_i[n, k]ᵀ (the "NT" GEMM of
// cublaslt_matmul.h), through cublasGemmGroupedBatchedEx. cuBLAS is
// column-major, so each problem runs as the column-major C_iᵀ (n × m_i) =
// B_i (TRANSA=T, lda = k) · A_iᵀ (TRANSB=N, ldb = k), ldc = n; problems of
// equal m_i share a group.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/device.h"
#include "cublas_loader.h"

namespace moekit {

struct GroupedGemmProblem {
  const void* a;  // [m, k] row-major, of ab_type
  const void* b;  // [n, k] row-major, of ab_type
  void* c;        // [m, n] row-major, of c_type
  int64_t m;
};

struct GroupedGemmCall {
  std::vector<GroupedGemmProblem> problems;  // none empty
  int64_t n = 0;
  int64_t k = 0;
  cublas::DataType ab_type = cublas::DataType::R_16BF;
  cublas::DataType c_type = cublas::DataType::R_16BF;
  // Device buffer of 3 · problems.size() pointers (the A, B and C arrays).
  void* pointer_arrays = nullptr;
};

// One cublasGemmStridedBatchedEx call, in cuBLAS's own column-major terms
// (the MLA baselines, native/ops/baselines/mla.cc, state their row-major
// products in these): batch products C_i (m × n, ldc) = op(A_i) · op(B_i),
// f32 accumulation, alpha 1, beta 0.
struct StridedBatchedGemm {
  cublas::Operation transa = cublas::Operation::OP_N;
  cublas::Operation transb = cublas::Operation::OP_N;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const void* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  void* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  int64_t batch = 0;
  cublas::DataType ab_type = cublas::DataType::R_16BF;
  cublas::DataType c_type = cublas::DataType::R_32F;
};

// cuBLAS state of one CUDA device: the handle and its workspace, kept for
// the life of the process.
class CublasContext {
 public:
  // JS thread: allocates the workspace on `device` (throws Error(OutOfMemory)).
  CublasContext(Device& device, const CublasLibrary& library);
  CublasContext(const CublasContext&) = delete;
  CublasContext& operator=(const CublasContext&) = delete;

  // Queue thread of the device only: writes the pointer arrays and issues
  // the grouped GEMM on `stream`. Throws Error(Unsupported) when the
  // library lacks cublasGemmGroupedBatchedEx or refuses the problem.
  void grouped_gemm(const GroupedGemmCall& call, void* stream);

  // Queue thread of the device only: issues one strided batched GEMM on
  // `stream` (nothing when m, n or batch is 0; the caller zeroes C when k
  // is 0). Throws Error(Unsupported) when the library lacks
  // cublasGemmStridedBatchedEx or refuses the problem.
  void strided_batched_gemm(const StridedBatchedGemm& g, void* stream);

 private:
  // Creates the handle on first use and binds it to `stream`.
  void bind(void* stream);

  const cublas::Api& api_;
  std::string library_text_;  // "cuBLAS 12.9.1 (path)", for messages
  std::shared_ptr<Storage> workspace_;
  void* workspace_data_ = nullptr;
  cublas::Handle handle_ = nullptr;
};

// The context of `device` (a CUDA device), created on first use and kept.
// JS thread; `library` must be loaded.
std::shared_ptr<CublasContext> cublas_context(Device& device, const CublasLibrary& library);

}  // namespace moekit
