// The subset of NVIDIA's cuBLASLt C API the cuBLAS baselines call, declared
// by hand so that the addon builds and loads without cuBLAS installed: the
// library is opened at run time (native/baselines/cublaslt_loader.h) and
// these declarations say how to call what dlsym finds.
//
// Plain C++ (no CUDA headers): the host code of the addon includes it.
// Every numeric value below must equal NVIDIA's headers exactly; a wrong one
// is not a compile error but a silently different matmul on a GPU. Where
// each group comes from is cited beside it; the cudaDataType values are also
// checked against the CUDA toolkit's library_types.h in CUDA builds
// (native/baselines/cublaslt_matmul.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace moekit {
namespace cublaslt {

// cublasStatus_t (cublas_api.h). Source: NVIDIA nvmath-python,
// nvmath/bindings/cycublas.pxd ("generated across versions from 11.0.3 to
// 12.6.2", exposes the C header as is).
enum Status : int32_t {
  STATUS_SUCCESS = 0,
  STATUS_NOT_INITIALIZED = 1,
  STATUS_ALLOC_FAILED = 3,
  STATUS_INVALID_VALUE = 7,
  STATUS_ARCH_MISMATCH = 8,
  STATUS_MAPPING_ERROR = 11,
  STATUS_EXECUTION_FAILED = 13,
  STATUS_INTERNAL_ERROR = 14,
  STATUS_NOT_SUPPORTED = 15,
  STATUS_LICENSE_ERROR = 16,
};

// cublasComputeType_t and cublasOperation_t (cublas_api.h). Same source.
enum ComputeType : int32_t {
  COMPUTE_32F = 68,  // CUBLAS_COMPUTE_32F
};

enum Operation : int32_t {
  OP_N = 0,  // CUBLAS_OP_N
  OP_T = 1,  // CUBLAS_OP_T
};

// cudaDataType_t (library_types.h of the CUDA toolkit; read from CUDA 13.0's
// header and static_assert-ed against it where it is available).
enum DataType : int32_t {
  R_32F = 0,       // CUDA_R_32F
  R_16F = 2,       // CUDA_R_16F
  R_16BF = 14,     // CUDA_R_16BF
  R_8F_E4M3 = 28,  // CUDA_R_8F_E4M3
  R_8F_E5M2 = 29,  // CUDA_R_8F_E5M2
};

// cublasLtMatmulDescAttributes_t (cublasLt.h). Source: nvmath-python,
// nvmath/bindings/cycublasLt.pxd ("generated across versions from 11.0.3 to
// 12.8.0"); the same numbers are listed by nvmath-python's documentation of
// nvmath.bindings.cublasLt.MatmulDescAttribute. Attribute value types (they
// must match the sizes passed, or cuBLASLt answers INVALID_VALUE):
// TRANSA/TRANSB int32_t, *_SCALE_POINTER const void*, FAST_ACCUM int8_t,
// *_SCALE_MODE int32_t.
enum MatmulDescAttribute : int32_t {
  DESC_TRANSA = 3,            // CUBLASLT_MATMUL_DESC_TRANSA
  DESC_TRANSB = 4,            // CUBLASLT_MATMUL_DESC_TRANSB
  DESC_A_SCALE_POINTER = 17,  // CUBLASLT_MATMUL_DESC_A_SCALE_POINTER
  DESC_B_SCALE_POINTER = 18,  // CUBLASLT_MATMUL_DESC_B_SCALE_POINTER
  DESC_FAST_ACCUM = 25,       // CUBLASLT_MATMUL_DESC_FAST_ACCUM
  DESC_A_SCALE_MODE = 31,     // CUBLASLT_MATMUL_DESC_A_SCALE_MODE (cuBLAS 12.8+)
  DESC_B_SCALE_MODE = 32,     // CUBLASLT_MATMUL_DESC_B_SCALE_MODE (cuBLAS 12.8+)
};

// cublasLtMatmulMatrixScale_t (cublasLt.h). Source: nvmath-python's
// documentation of nvmath.bindings.cublasLt.MatmulMatrixScale (SCALAR_32F 0,
// VEC16_UE4M3 1, VEC32_UE8M0 2, OUTER_VEC_32F 3, VEC128_32F 4,
// BLK128x128_32F 5); agrees with hipBLASLt's mirror of the enum. VEC128/BLK128x128 exist from
// cuBLAS 12.9 and run on compute capability 9.0 only.
enum MatrixScale : int32_t {
  SCALE_SCALAR_32F = 0,       // CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F: one f32 per matrix
  SCALE_VEC128_32F = 4,       // CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F: one f32 per 128 elements along K
  SCALE_BLK128x128_32F = 5,   // CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F: one f32 per 128x128 block
};

// cublasLtMatmulPreferenceAttributes_t (cublasLt.h). Source: cycublasLt.pxd
// as above. MAX_WORKSPACE_BYTES is uint64_t, MIN_ALIGNMENT_* uint32_t (the
// alignment cuBLASLt may assume of each pointer; its default is 256 bytes).
enum PreferenceAttribute : int32_t {
  PREF_MAX_WORKSPACE_BYTES = 1,      // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
  PREF_MIN_ALIGNMENT_A_BYTES = 5,    // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES
  PREF_MIN_ALIGNMENT_B_BYTES = 6,    // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES
  PREF_MIN_ALIGNMENT_C_BYTES = 7,    // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES
  PREF_MIN_ALIGNMENT_D_BYTES = 8,    // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES
};

// Opaque handles (pointers to library-owned objects).
struct ContextOpaque;
struct MatmulDescOpaque;
struct MatrixLayoutOpaque;
struct PreferenceOpaque;
using Handle = ContextOpaque*;             // cublasLtHandle_t
using MatmulDesc = MatmulDescOpaque*;      // cublasLtMatmulDesc_t
using MatrixLayout = MatrixLayoutOpaque*;  // cublasLtMatrixLayout_t
using Preference = PreferenceOpaque*;      // cublasLtMatmulPreference_t

// cublasLtMatmulAlgo_t and cublasLtMatmulHeuristicResult_t (cublasLt.h;
// layouts from cycublasLt.pxd). Plain data, returned by value-array.
struct MatmulAlgo {
  uint64_t data[8];
};

struct HeuristicResult {
  MatmulAlgo algo;
  size_t workspace_size;
  Status state;
  float waves_count;
  int reserved[4];
};

static_assert(sizeof(MatmulAlgo) == 64, "cublasLtMatmulAlgo_t is 8 x uint64_t");
static_assert(sizeof(HeuristicResult) == 96, "cublasLtMatmulHeuristicResult_t is 96 bytes on LP64");

// Function types of cublasLt.h (Linux: plain C calling convention). C enums
// are int-sized, so the fixed-width enums above pass the same way. `stream`
// is a cudaStream_t, a pointer.
using GetVersionFn = size_t (*)();
using CreateFn = Status (*)(Handle* handle);
using MatmulDescCreateFn = Status (*)(MatmulDesc* desc, ComputeType compute_type, DataType scale_type);
using MatmulDescDestroyFn = Status (*)(MatmulDesc desc);
using MatmulDescSetAttributeFn = Status (*)(MatmulDesc desc, MatmulDescAttribute attr, const void* buf, size_t size);
using MatrixLayoutCreateFn = Status (*)(MatrixLayout* layout, DataType type, uint64_t rows, uint64_t cols, int64_t ld);
using MatrixLayoutDestroyFn = Status (*)(MatrixLayout layout);
using PreferenceCreateFn = Status (*)(Preference* pref);
using PreferenceDestroyFn = Status (*)(Preference pref);
using PreferenceSetAttributeFn = Status (*)(Preference pref, PreferenceAttribute attr, const void* buf, size_t size);
using AlgoGetHeuristicFn = Status (*)(Handle handle, MatmulDesc desc, MatrixLayout a, MatrixLayout b, MatrixLayout c,
                                      MatrixLayout d, Preference pref, int requested, HeuristicResult* results,
                                      int* returned);
using MatmulFn = Status (*)(Handle handle, MatmulDesc desc, const void* alpha, const void* a, MatrixLayout a_layout,
                            const void* b, MatrixLayout b_layout, const void* beta, const void* c, MatrixLayout c_layout,
                            void* d, MatrixLayout d_layout, const MatmulAlgo* algo, void* workspace,
                            size_t workspace_bytes, void* stream);

// Every entry point the baselines use, each bound by name with dlsym.
struct Api {
  GetVersionFn get_version = nullptr;                          // cublasLtGetVersion
  CreateFn create = nullptr;                                   // cublasLtCreate
  MatmulDescCreateFn matmul_desc_create = nullptr;             // cublasLtMatmulDescCreate
  MatmulDescDestroyFn matmul_desc_destroy = nullptr;           // cublasLtMatmulDescDestroy
  MatmulDescSetAttributeFn matmul_desc_set_attribute = nullptr;  // cublasLtMatmulDescSetAttribute
  MatrixLayoutCreateFn matrix_layout_create = nullptr;         // cublasLtMatrixLayoutCreate
  MatrixLayoutDestroyFn matrix_layout_destroy = nullptr;       // cublasLtMatrixLayoutDestroy
  PreferenceCreateFn preference_create = nullptr;              // cublasLtMatmulPreferenceCreate
  PreferenceDestroyFn preference_destroy = nullptr;            // cublasLtMatmulPreferenceDestroy
  PreferenceSetAttributeFn preference_set_attribute = nullptr;  // cublasLtMatmulPreferenceSetAttribute
  AlgoGetHeuristicFn algo_get_heuristic = nullptr;             // cublasLtMatmulAlgoGetHeuristic
  MatmulFn matmul = nullptr;                                   // cublasLtMatmul
};

// cublasLtGetVersion() is major * 10000 + minor * 100 + patch (12.9.1 ->
// 120901), the encoding PyTorch and TransformerEngine compare against.
constexpr size_t version_number(size_t major, size_t minor, size_t patch) { return major * 10000 + minor * 100 + patch; }

// The first release with VEC128_32F / BLK128x128_32F scaling (CUDA 12.9).
constexpr size_t BLOCK_SCALING_MIN_VERSION = version_number(12, 9, 0);

}  // namespace cublaslt
}  // namespace moekit
