#include "cublaslt_loader.h"

#include "library_search.h"
#include "../device/registry.h"

#include <cstdlib>
#include <iterator>
#include <mutex>
#include <vector>

namespace moekit {

namespace {

constexpr const char* PATH_ENV = "MOEKIT_CUBLASLT_PATH";
// Newest first: a machine with both runs the newer one.
constexpr const char* SONAMES[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};

const char* const FIX =
    "install cuBLAS (the CUDA toolkit, or the wheel `pip install nvidia-cublas-cu12`; PyTorch's CUDA wheels "
    "bring it too) and put the folder holding libcublasLt.so.* on LD_LIBRARY_PATH, or set MOEKIT_CUBLASLT_PATH to "
    "the library's full path (e.g. .../site-packages/nvidia/cublas/lib/libcublasLt.so.12)";

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

// Opens `name` and binds the API; on success fills `out` and keeps the
// library loaded for good (unloading cuBLAS with work in flight is unsafe).
bool try_load(const std::string& name, CublasLtLibrary& out, cublaslt::Api& api, std::vector<LibraryAttempt>& attempts) {
  cublaslt::Api candidate;
  std::string path;
  void* library = open_library(name, "cuBLASLt", [&](void* lib, std::string& error) { return bind_all(lib, candidate, error); },
                               attempts, path);
  if (!library) return false;
  api = candidate;
  out.api = &api;
  register_exit_handler_again();  // after the library's own runtime registered its exit handler
  out.path = path;
  out.version = api.get_version();
  out.reason.clear();
  return true;
}

}  // namespace

CublasLtLibrary cublaslt_library() {
  static std::mutex mutex;
  static cublaslt::Api api;          // bound entry points of the loaded library
  static CublasLtLibrary* loaded = nullptr;  // set once, never freed: the library stays loaded
  std::lock_guard<std::mutex> lock(mutex);
  if (loaded) return *loaded;

  CublasLtLibrary result;
#if defined(MOEKIT_EMULATION)
  // cuBLASLt's kernels run on a real GPU only; on a machine with the CUDA
  // toolkit the real library would load and talk to a real driver, or none.
  (void)api;
  result.reason = "cuBLASLt does not run on the emulated GPU; the cuBLAS baselines need a real one";
  return result;
#endif
  std::vector<LibraryAttempt> attempts;
  const char* explicit_path = std::getenv(PATH_ENV);
  if (explicit_path && explicit_path[0]) {
    if (try_load(explicit_path, result, api, attempts)) {
      loaded = new CublasLtLibrary(result);
      return result;
    }
    result.reason = std::string("cuBLASLt could not be loaded from ") + PATH_ENV + "=" + explicit_path + ": " +
                    attempts.front().error + "; point it at a libcublasLt.so.12 or .so.13, or unset it to search " +
                    SONAMES[0] + ", " + SONAMES[1] + " and " + SONAMES[2];
    return result;
  }
  for (const auto& name : library_candidates(std::vector<std::string>(std::begin(SONAMES), std::end(SONAMES)))) {
    if (try_load(name, result, api, attempts)) {
      loaded = new CublasLtLibrary(result);
      return result;
    }
  }
  result.reason = "cuBLASLt was not found (tried " + describe_attempts(attempts) + "); to use the cuBLAS baselines, " + FIX;
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

void cublaslt_check(cublaslt::Status status, const char* call, const char* file, int line) {
  if (status == cublaslt::STATUS_SUCCESS) return;
  const std::string message =
      "cuBLASLt error " + cublaslt_status_name(status) + " (" + call + " at " + file + ":" + std::to_string(line) + ")";
  switch (status) {
    case cublaslt::STATUS_NOT_SUPPORTED:
    case cublaslt::STATUS_ARCH_MISMATCH: throw Error(ErrorCode::Unsupported, message);
    case cublaslt::STATUS_ALLOC_FAILED: throw Error(ErrorCode::OutOfMemory, message);
    default: throw Error(ErrorCode::Cuda, message);
  }
}

}  // namespace moekit
