// Finding cuBLAS (libcublas, for cublasGemmGroupedBatchedEx) at run time,
// like cuBLASLt (cublaslt_loader.h):
//   1. MOEKIT_CUBLAS_PATH, when set (and nothing else then);
//   2. else libcublas.so.13, .so.12 and .so in the folder the loaded
//      cuBLASLt came from (the same install), when one was loaded;
//   3. then the same names through the dynamic loader's search
//      (LD_LIBRARY_PATH, ld.so.cache), $CUDA_HOME/lib64 and
//      /usr/local/cuda/lib64.
// A library counts when its basic entry points resolve; the grouped GEMM
// itself (cuBLAS 12.5+) may be missing, which `api->gemm_grouped_batched_ex`
// (null) and the baselines' status report.
#pragma once

#include <cstddef>
#include <string>

#include "cublas_api.h"

namespace moekit {

struct CublasLibrary {
  const cublas::Api* api = nullptr;  // null when unavailable
  std::string path;                  // the file loaded ('' when none)
  size_t version = 0;                // major * 10000 + minor * 100 + patch, e.g. 120901
  std::string reason;                // why unavailable: each place tried and what failed, and the fix
};

// The loaded library, or why there is none; kept and retried as
// cublaslt_library() does. Thread-safe; never throws.
CublasLibrary cublas_library();

// Throws moekit::Error for any status but success, as cublaslt_check,
// naming cuBLAS.
void cublas_check(cublas::Status status, const char* call, const char* file, int line);

}  // namespace moekit

#define MOEKIT_CUBLAS_CHECK(call) ::moekit::cublas_check((call), #call, __FILE__, __LINE__)
