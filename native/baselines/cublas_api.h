// The subset of NVIDIA's cuBLAS C API (libcublas, not cuBLASLt) the grouped
// GEMM and MLA baselines call, declared by hand like cublaslt_api.h (whose status,
// operation, compute and data type values it shares: cublas_api.h and
// cublasLt.h use the same enums) so that the addon builds and loads without
// cuBLAS installed; the library is opened at run time (cublas_loader.h).
// Every numeric value must equal NVIDIA's headers exactly.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cublaslt_api.h"

namespace moekit {
namespace cublas {

using cublaslt::ComputeType;
using cublaslt::DataType;
using cublaslt::Operation;
using cublaslt::Status;

// libraryPropertyType (library_types.h of the CUDA toolkit): MAJOR_VERSION 0,
// MINOR_VERSION 1, PATCH_LEVEL 2.
enum LibraryProperty : int32_t {
  PROPERTY_MAJOR_VERSION = 0,
  PROPERTY_MINOR_VERSION = 1,
  PROPERTY_PATCH_LEVEL = 2,
};

// cublasGemmAlgo_t (cublas_api.h): CUBLAS_GEMM_DEFAULT, the library's own
// choice (tensor cores included since cuBLAS 11). Same source as cublaslt_api.h's statuses.
enum GemmAlgo : int32_t {
  GEMM_DEFAULT = -1,
};

struct ContextOpaque;
using Handle = ContextOpaque*;  // cublasHandle_t

// Function types of cublas_api.h (the _v2 entry points the cublas_v2.h
// macros name). `stream` is a cudaStream_t.
using GetPropertyFn = Status (*)(LibraryProperty type, int* value);   // cublasGetProperty
using CreateFn = Status (*)(Handle* handle);                            // cublasCreate_v2
using SetStreamFn = Status (*)(Handle handle, void* stream);            // cublasSetStream_v2
using SetWorkspaceFn = Status (*)(Handle handle, void* workspace, size_t bytes);  // cublasSetWorkspace_v2
// cublasGemmGroupedBatchedEx (cuBLAS 12.5+). group_count groups; group i
// holds group_size[i] problems sharing transa/transb/m/n/k/ld*/alpha/beta
// (host arrays of group_count entries; alpha and beta of the scale type,
// float for COMPUTE_32F, read through the host pointer mode). A, B and C
// are device arrays of device pointers, one per problem, groups in order.
using GemmGroupedBatchedExFn = Status (*)(Handle handle, const Operation transa_array[], const Operation transb_array[],
                                          const int m_array[], const int n_array[], const int k_array[], const void* alpha_array,
                                          const void* const a_array[], DataType a_type, const int lda_array[],
                                          const void* const b_array[], DataType b_type, const int ldb_array[],
                                          const void* beta_array, void* const c_array[], DataType c_type, const int ldc_array[],
                                          int group_count, const int group_size[], ComputeType compute_type);

// cublasGemmStridedBatchedEx (cuBLAS 9.1+): batch_count column-major
// products C_i = alpha·op(A_i)·op(B_i) + beta·C_i, A_i = a + i·stride_a
// (elements), likewise B_i and C_i; alpha and beta of the scale type (float
// for COMPUTE_32F) through the host pointer mode.
using GemmStridedBatchedExFn = Status (*)(Handle handle, Operation transa, Operation transb, int m, int n, int k, const void* alpha,
                                          const void* a, DataType a_type, int lda, long long stride_a, const void* b, DataType b_type,
                                          int ldb, long long stride_b, const void* beta, void* c, DataType c_type, int ldc,
                                          long long stride_c, int batch_count, ComputeType compute_type, GemmAlgo algo);

struct Api {
  GetPropertyFn get_property = nullptr;    // cublasGetProperty
  CreateFn create = nullptr;               // cublasCreate_v2
  SetStreamFn set_stream = nullptr;        // cublasSetStream_v2
  SetWorkspaceFn set_workspace = nullptr;  // cublasSetWorkspace_v2
  // cublasGemmGroupedBatchedEx: null when the library predates it.
  GemmGroupedBatchedExFn gemm_grouped_batched_ex = nullptr;
  // cublasGemmStridedBatchedEx: null when missing (every cuBLAS 12 has it).
  GemmStridedBatchedExFn gemm_strided_batched_ex = nullptr;
};

// The first release with cublasGemmGroupedBatchedEx (CUDA 12.5).
constexpr size_t GROUPED_GEMM_MIN_VERSION = cublaslt::version_number(12, 5, 0);

}  // namespace cublas
}  // namespace moekit
