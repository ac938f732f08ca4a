#include "cublas_loader.h"

#include "cublaslt_loader.h"
#include "library_search.h"

#include <mutex>
#include <string>
#include <vector>

namespace moekit {

namespace {

const LibrarySpec SPEC{
    "cuBLAS",
    "MOEKIT_CUBLAS_PATH",
    {"libcublas.so.13", "libcublas.so.12", "libcublas.so"},
    "a libcublas.so.12 or .so.13",
    "to use its grouped GEMM and MLA baselines",
    "install cuBLAS (the CUDA toolkit, or the wheel `pip install nvidia-cublas-cu12`; PyTorch's CUDA wheels "
    "bring it too) and put the folder holding libcublas.so.* on LD_LIBRARY_PATH, or set MOEKIT_CUBLAS_PATH to "
    "the library's full path (e.g. .../site-packages/nvidia/cublas/lib/libcublas.so.12)",
};

bool bind_all(void* library, cublas::Api& api, std::string& error) {
  const bool ok = bind_symbol(library, "cublasGetProperty", api.get_property, error) &&
                  bind_symbol(library, "cublasCreate_v2", api.create, error) &&
                  bind_symbol(library, "cublasSetStream_v2", api.set_stream, error) &&
                  bind_symbol(library, "cublasSetWorkspace_v2", api.set_workspace, error);
  if (ok) {
    bind_optional_symbol(library, "cublasGemmGroupedBatchedEx", api.gemm_grouped_batched_ex);
    bind_optional_symbol(library, "cublasGemmStridedBatchedEx", api.gemm_strided_batched_ex);
  }
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

}  // namespace

CublasLibrary cublas_library() {
  static std::mutex mutex;
  static cublas::Api api;                  // bound entry points of the loaded library
  static CublasLibrary* loaded = nullptr;  // set once, never freed: the library stays loaded
  std::lock_guard<std::mutex> lock(mutex);
  if (loaded) return *loaded;

  // Beside the cuBLASLt in use first: libcublas needs the libcublasLt of its own release.
  std::vector<std::string> first_dirs;
  const CublasLtLibrary lt = cublaslt_library();
  if (lt.api && !folder_of(lt.path).empty()) first_dirs.push_back(folder_of(lt.path));
  CublasLibrary result;
  cublas::Api candidate;
  const auto bind = [&](void* library, std::string& error) {
    candidate = cublas::Api();  // nothing left from a library that did not count
    return bind_all(library, candidate, error);
  };
  if (!load_library(SPEC, first_dirs, bind, result.path, result.reason)) return result;
  api = candidate;
  result.api = &api;
  result.version = library_version(api);
  loaded = new CublasLibrary(result);
  return result;
}

void cublas_check(cublas::Status status, const char* call, const char* file, int line) {
  check_cublas_status(status, "cuBLAS", call, file, line);
}

}  // namespace moekit
