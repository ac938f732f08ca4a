#include "cublas_loader.h"

#include "cublaslt_loader.h"
#include "library_search.h"
#include "../device/registry.h"

#include <cstdlib>
#include <iterator>
#include <mutex>
#include <vector>

namespace moekit {

namespace {

constexpr const char* PATH_ENV = "MOEKIT_CUBLAS_PATH";
// Newest first: a machine with both runs the newer one.
constexpr const char* SONAMES[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};

const char* const FIX =
    "install cuBLAS (the CUDA toolkit, or the wheel `pip install nvidia-cublas-cu12`; PyTorch's CUDA wheels "
    "bring it too) and put the folder holding libcublas.so.* on LD_LIBRARY_PATH, or set MOEKIT_CUBLAS_PATH to "
    "the library's full path (e.g. .../site-packages/nvidia/cublas/lib/libcublas.so.12)";

bool bind_all(void* library, cublas::Api& api, std::string& error) {
  const bool ok = bind_symbol(library, "cublasGetProperty", api.get_property, error) &&
                  bind_symbol(library, "cublasCreate_v2", api.create, error) &&
                  bind_symbol(library, "cublasSetStream_v2", api.set_stream, error) &&
                  bind_symbol(library, "cublasSetWorkspace_v2", api.set_workspace, error);
  if (ok) bind_optional_symbol(library, "cublasGemmGroupedBatchedEx", api.gemm_grouped_batched_ex);
  return ok;
}

size_t library_version(const cublas::Api& api) {
  int major = 0, minor = 0, patch = 0;
  if (api.get_property(cublas::PROPERTY_MAJOR_VERSION, &major) != cublas::Status::STATUS_SUCCESS ||
      api.get_property(cublas::PROPERTY_MINOR_VERSION, &minor) != cublas::Status::STATUS_SUCCESS ||
      api.get_property(cublas::PROPERTY_PATCH_LEVEL, &patch) != cublas::Status::STATUS_SUCCESS || major < 0 || minor < 0 ||
      patch < 0) {
    return 0;
  }
  return cublaslt::version_number(static_cast<size_t>(major), static_cast<size_t>(minor), static_cast<size_t>(patch));
}

bool try_load(const std::string& name, CublasLibrary& out, cublas::Api& api, std::vector<LibraryAttempt>& attempts) {
  cublas::Api candidate;
  std::string path;
  void* library = open_library(name, "cuBLAS", [&](void* lib, std::string& error) { return bind_all(lib, candidate, error); },
                               attempts, path);
  if (!library) return false;
  api = candidate;
  out.api = &api;
  register_exit_handler_again();  // after the library's own runtime registered its exit handler
  out.path = path;
  out.version = library_version(api);
  out.reason.clear();
  return true;
}

}  // namespace

CublasLibrary cublas_library() {
  static std::mutex mutex;
  static cublas::Api api;                  // bound entry points of the loaded library
  static CublasLibrary* loaded = nullptr;  // set once, never freed: the library stays loaded
  std::lock_guard<std::mutex> lock(mutex);
  if (loaded) return *loaded;

  CublasLibrary result;
#if defined(MOEKIT_EMULATION)
  (void)api;
  result.reason = "cuBLAS does not run on the emulated GPU; the cuBLAS baselines need a real one";
  return result;
#endif
  std::vector<LibraryAttempt> attempts;
  const char* explicit_path = std::getenv(PATH_ENV);
  if (explicit_path && explicit_path[0]) {
    if (try_load(explicit_path, result, api, attempts)) {
      loaded = new CublasLibrary(result);
      return result;
    }
    result.reason = std::string("cuBLAS could not be loaded from ") + PATH_ENV + "=" + explicit_path + ": " +
                    attempts.front().error + "; point it at a libcublas.so.12 or .so.13, or unset it to search " + SONAMES[0] +
                    ", " + SONAMES[1] + " and " + SONAMES[2];
    return result;
  }
  // Beside the cuBLASLt in use first: libcublas needs the libcublasLt of its own release.
  std::vector<std::string> first_dirs;
  const CublasLtLibrary lt = cublaslt_library();
  if (lt.api && !folder_of(lt.path).empty()) first_dirs.push_back(folder_of(lt.path));
  for (const auto& name : library_candidates(std::vector<std::string>(std::begin(SONAMES), std::end(SONAMES)), first_dirs)) {
    if (try_load(name, result, api, attempts)) {
      loaded = new CublasLibrary(result);
      return result;
    }
  }
  result.reason = "cuBLAS was not found (tried " + describe_attempts(attempts) + "); to use its grouped GEMM baseline, " + FIX;
  return result;
}

void cublas_check(cublas::Status status, const char* call, const char* file, int line) {
  if (status == cublas::Status::STATUS_SUCCESS) return;
  const std::string message =
      "cuBLAS error " + cublaslt_status_name(status) + " (" + call + " at " + file + ":" + std::to_string(line) + ")";
  switch (status) {
    case cublas::Status::STATUS_NOT_SUPPORTED:
    case cublas::Status::STATUS_ARCH_MISMATCH: throw Error(ErrorCode::Unsupported, message);
    case cublas::Status::STATUS_ALLOC_FAILED: throw Error(ErrorCode::OutOfMemory, message);
    default: throw Error(ErrorCode::Cuda, message);
  }
}

}  // namespace moekit
