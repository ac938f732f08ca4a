// Finding cuBLASLt at run time. The addon never links cuBLAS (machines
// without it build and load moekit); the benchmarks' baselines open it with
// dlopen when first asked:
//   1. MOEKIT_CUBLASLT_PATH, when set (and nothing else then);
//   2. else libcublasLt.so.13, libcublasLt.so.12, libcublasLt.so through the
//      dynamic loader's search (LD_LIBRARY_PATH, ld.so.cache);
//   3. then the same names in $CUDA_HOME/lib64 and /usr/local/cuda/lib64.
// A library counts only when every entry point of cublaslt::Api resolves.
#pragma once

#include <cstddef>
#include <string>

#include "cublaslt_api.h"
#include "../common/error.h"

namespace moekit {

struct CublasLtLibrary {
  const cublaslt::Api* api = nullptr;  // null when unavailable
  std::string path;                    // the file loaded ('' when none)
  size_t version = 0;                  // cublasLtGetVersion(), e.g. 120901
  std::string reason;                  // why unavailable: each place tried and what failed, and the fix
};

// The loaded library, or why there is none. A successful load is kept for
// the life of the process; a failed one is tried again on the next call, so
// setting MOEKIT_CUBLASLT_PATH (or installing cuBLAS) takes effect without a
// restart. Thread-safe; never throws.
CublasLtLibrary cublaslt_library();

// "12.9.1" for 120901.
std::string cublaslt_version_text(size_t version);

// CUBLAS_STATUS_NOT_SUPPORTED, ... ("CUBLAS_STATUS_<n>" for values this
// build does not know).
std::string cublaslt_status_name(cublaslt::Status status);

// Throws moekit::Error for any status but success: Unsupported for
// NOT_SUPPORTED and ARCH_MISMATCH (a valid request this GPU or library
// cannot serve), OutOfMemory for ALLOC_FAILED, Cuda otherwise. The message
// names the status, the call and where it was made.
void cublaslt_check(cublaslt::Status status, const char* call, const char* file, int line);

// What cublaslt_check and cublas_check (the same statuses) share: `library`
// names the library in the message.
void check_cublas_status(cublaslt::Status status, const char* library, const char* call, const char* file, int line);

}  // namespace moekit

#define MOEKIT_CUBLASLT_CHECK(call) ::moekit::cublaslt_check((call), #call, __FILE__, __LINE__)
