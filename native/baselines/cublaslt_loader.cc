#include "cublaslt_loader.h"

#include "../device/registry.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdlib>
#include <cstring>
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

// dlerror's text, without the "<file>: " it starts with when that is `name`
// (the message names the file already).
std::string last_dl_error(const std::string& name) {
  const char* e = dlerror();
  std::string text = e ? e : "unknown dynamic loader error";
  if (!name.empty() && text.rfind(name + ": ", 0) == 0) text.erase(0, name.size() + 2);
  return text;
}

// dlsym returns an object pointer; copying its bytes into the function
// pointer is the conversion POSIX sanctions (and C++ compilers accept
// without warnings).
template <typename Fn>
bool bind(void* library, const char* name, Fn& out, std::string& error) {
  static_assert(sizeof(Fn) == sizeof(void*), "function and object pointers have the same size on the supported platforms");
  dlerror();
  void* symbol = dlsym(library, name);
  if (!symbol) {
    error = std::string("symbol ") + name + " is missing";
    return false;
  }
  std::memcpy(&out, &symbol, sizeof(out));
  return true;
}

bool bind_all(void* library, cublaslt::Api& api, std::string& error) {
  return bind(library, "cublasLtGetVersion", api.get_version, error) &&
         bind(library, "cublasLtCreate", api.create, error) &&
         bind(library, "cublasLtMatmulDescCreate", api.matmul_desc_create, error) &&
         bind(library, "cublasLtMatmulDescDestroy", api.matmul_desc_destroy, error) &&
         bind(library, "cublasLtMatmulDescSetAttribute", api.matmul_desc_set_attribute, error) &&
         bind(library, "cublasLtMatrixLayoutCreate", api.matrix_layout_create, error) &&
         bind(library, "cublasLtMatrixLayoutDestroy", api.matrix_layout_destroy, error) &&
         bind(library, "cublasLtMatmulPreferenceCreate", api.preference_create, error) &&
         bind(library, "cublasLtMatmulPreferenceDestroy", api.preference_destroy, error) &&
         bind(library, "cublasLtMatmulPreferenceSetAttribute", api.preference_set_attribute, error) &&
         bind(library, "cublasLtMatmulAlgoGetHeuristic", api.algo_get_heuristic, error) &&
         bind(library, "cublasLtMatmul", api.matmul, error);
}

// The file the dynamic loader picked for `name`.
std::string loaded_path(void* library, const std::string& name) {
  struct link_map* map = nullptr;
  if (dlinfo(library, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && map->l_name[0]) return map->l_name;
  return name;
}

struct Attempt {
  std::string name;
  std::string error;
};

// Opens `name` and binds the API; on success fills `out` and keeps the
// library loaded for good (unloading cuBLAS with work in flight is unsafe).
bool try_load(const std::string& name, CublasLtLibrary& out, cublaslt::Api& api, std::vector<Attempt>& attempts) {
  dlerror();
  void* library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    attempts.push_back({name, last_dl_error(name)});
    return false;
  }
  cublaslt::Api candidate;
  std::string error;
  if (!bind_all(library, candidate, error)) {
    attempts.push_back({loaded_path(library, name), "not a usable cuBLASLt: " + error});
    dlclose(library);
    return false;
  }
  api = candidate;
  out.api = &api;
  register_exit_handler_again();  // after the library's own runtime registered its exit handler
  out.path = loaded_path(library, name);
  out.version = api.get_version();
  out.reason.clear();
  return true;
}

// "a, b, c (error)" when every attempt failed the same way (the usual
// "No such file or directory"), else "a (error a); b (error b)".
std::string describe_attempts(const std::vector<Attempt>& attempts) {
  bool same = true;
  for (const auto& a : attempts) same = same && a.error == attempts.front().error;
  std::string s;
  for (const auto& a : attempts) {
    if (!s.empty()) s += same ? ", " : "; ";
    s += a.name;
    if (!same) s += " (" + a.error + ")";
  }
  if (same && !attempts.empty()) s += " (" + attempts.front().error + ")";
  return s;
}

std::vector<std::string> default_candidates() {
  std::vector<std::string> names(std::begin(SONAMES), std::end(SONAMES));
  std::vector<std::string> dirs;
  if (const char* home = std::getenv("CUDA_HOME"); home && home[0]) dirs.push_back(std::string(home) + "/lib64");
  dirs.push_back("/usr/local/cuda/lib64");
  for (const auto& dir : dirs) {
    for (const char* soname : SONAMES) names.push_back(dir + "/" + soname);
  }
  return names;
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
  std::vector<Attempt> attempts;
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
  for (const auto& name : default_candidates()) {
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
