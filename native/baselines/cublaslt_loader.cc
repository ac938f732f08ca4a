#include "cublaslt_loader.h"

#include "library_search.h"

#include <mutex>
#include <string>

namespace moekit {

namespace {

const LibrarySpec SPEC{
    "cuBLASLt",
    "MOEKIT_CUBLASLT_PATH",
    {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"},
    "a libcublasLt.so.12 or .so.13",
    "to use the cuBLAS baselines",
    "install cuBLAS (the CUDA toolkit, or the wheel `pip install nvidia-cublas-cu12`; PyTorch's CUDA wheels "
    "bring it too) and put the folder holding libcublasLt.so.* on LD_LIBRARY_PATH, or set MOEKIT_CUBLASLT_PATH to "
    "the library's full path (e.g. .../site-packages/nvidia/cublas/lib/libcublasLt.so.12)",
};

bool bind_all(void* library, cublaslt::Api& api, std::string& error) {
  return bind_symbol(library, "cublasLtGetVersion", api.get_version, error) &&
         bind_symbol(library, "cublasLtCreate", api.create, error) &&
         bind_symbol(library, "cublasLtMatmulDescCreate", api.matmul_desc_create, error) &&
         bind_symbol(library, "cublasLtMatmulDescDestroy", api.matmul_desc_destroy, error) &&
         bind_symbol(library, "cublasLtMatmulDescSetAttribute", api.matmul_desc_set_attribute, error) &&
         bind_symbol(library, "cublasLtMatrixLayoutCreate", api.matrix_layout_create, error) &&
         bind_symbol(library, "cublasLtMatrixLayoutDestroy", api.matrix_layout_destroy, error) &&
         bind_symbol(library, "cublasLtMatmulPreferenceCreate", api.preference_create, error) &&
         bind_symbol(library, "cublasLtMatmulPreferenceDestroy", api.preference_destroy, error) &&
         bind_symbol(library, "cublasLtMatmulPreferenceSetAttribute", api.preference_set_attribute, error) &&
         bind_symbol(library, "cublasLtMatmulAlgoGetHeuristic", api.algo_get_heuristic, error) &&
         bind_symbol(library, "cublasLtMatmul", api.matmul, error);
}

}  // namespace

CublasLtLibrary cublaslt_library() {
  static std::mutex mutex;
  static cublaslt::Api api;          // bound entry points of the loaded library
  static CublasLtLibrary* loaded = nullptr;  // set once, never freed: the library stays loaded
  std::lock_guard<std::mutex> lock(mutex);
  if (loaded) return *loaded;

  CublasLtLibrary result;
  cublaslt::Api candidate;
  const auto bind = [&](void* library, std::string& error) {
    candidate = cublaslt::Api();  // nothing left from a library that did not count
    return bind_all(library, candidate, error);
  };
  if (!load_library(SPEC, {}, bind, result.path, result.reason)) return result;
  api = candidate;
  result.api = &api;
  result.version = api.get_version();
  loaded = new CublasLtLibrary(result);
  return result;
}

std::string cublaslt_version_text(size_t version) {
  return std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." + std::to_string(version % 100);
}

std::string cublaslt_status_name(cublaslt::Status status) {
  switch (status) {
    case cublaslt::STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case cublaslt::STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case cublaslt::STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case cublaslt::STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case cublaslt::STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case cublaslt::STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case cublaslt::STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case cublaslt::STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case cublaslt::STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case cublaslt::STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_" + std::to_string(static_cast<int32_t>(status));
}

void check_cublas_status(cublaslt::Status status, const char* library, const char* call, const char* file, int line) {
  if (status == cublaslt::STATUS_SUCCESS) return;
  const std::string message =
      std::string(library) + " error " + cublaslt_status_name(status) + " (" + call + " at " + file + ":" + std::to_string(line) + ")";
  switch (status) {
    case cublaslt::STATUS_NOT_SUPPORTED:
    case cublaslt::STATUS_ARCH_MISMATCH: throw Error(ErrorCode::Unsupported, message);
    case cublaslt::STATUS_ALLOC_FAILED: throw Error(ErrorCode::OutOfMemory, message);
    default: throw Error(ErrorCode::Cuda, message);
  }
}

void cublaslt_check(cublaslt::Status status, const char* call, const char* file, int line) {
  check_cublas_status(status, "cuBLASLt", call, file, line);
}

}  // namespace moekit
