// Opening an NVIDIA library at run time: what the cuBLASLt and cuBLAS
// loaders (cublaslt_loader.h, cublas_loader.h) share. A candidate counts
// only when every entry point its loader needs resolves; each failure is
// kept, so the message can name every place looked and what went wrong.
#pragma once

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <dlfcn.h>

namespace moekit {

struct LibraryAttempt {
  std::string name;   // what was opened (a soname or a path)
  std::string error;  // why it did not count
};

// dlsym returns an object pointer; copying its bytes into the function
// pointer is the conversion POSIX sanctions (and C++ compilers accept
// without warnings). False, with `error` naming the symbol, when missing.
template <typename Fn>
bool bind_symbol(void* library, const char* name, Fn& out, std::string& error) {
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

// Like bind_symbol, for an entry point only newer releases have: leaves
// `out` null when the library lacks it.
template <typename Fn>
void bind_optional_symbol(void* library, const char* name, Fn& out) {
  std::string ignored;
  if (!bind_symbol(library, name, out, ignored)) out = nullptr;
}

// Opens `name` (RTLD_NOW | RTLD_LOCAL) and runs `bind` on it. On success
// returns the handle, kept open for good (unloading a library with work in
// flight is unsafe), and sets `path` to the file the loader picked. Else
// closes it, records why in `attempts` ("not a usable <what>: <bind's
// error>" when it opened) and returns null.
void* open_library(const std::string& name, const char* what, const std::function<bool(void*, std::string&)>& bind,
                   std::vector<LibraryAttempt>& attempts, std::string& path);

// "a, b, c (error)" when every attempt failed the same way (the usual
// "No such file or directory"), else "a (error a); b (error b)".
std::string describe_attempts(const std::vector<LibraryAttempt>& attempts);

// `sonames` in each of `first_dirs`, then through the dynamic loader's
// search, then in $CUDA_HOME/lib64 and /usr/local/cuda/lib64.
std::vector<std::string> library_candidates(const std::vector<std::string>& sonames, const std::vector<std::string>& first_dirs = {});

// The folder of `path` ('' when it has none).
std::string folder_of(const std::string& path);

// What one loader looks for, and the words of its messages.
struct LibrarySpec {
  const char* what;                  // "cuBLASLt": the library as messages name it
  const char* path_env;              // "MOEKIT_CUBLASLT_PATH": a file to load instead of searching
  std::vector<std::string> sonames;  // newest first: a machine with both runs the newer one
  const char* path_hint;             // "a libcublasLt.so.12 or .so.13": what path_env should name
  const char* purpose;               // "to use the cuBLAS baselines": what the library is needed for
  const char* fix;                   // how to install it or point path_env at it
};

// Loads the library `spec` describes: the file spec.path_env names when it
// is set (and nothing else then), else the first of
// library_candidates(spec.sonames, first_dirs) that `bind` accepts. On
// success returns the handle, kept open for good, with `path` the file
// loaded, after putting the device exit handler ahead of the runtime the
// library brings (register_exit_handler_again). Else returns null with
// `reason` naming each place tried, what failed and the fix. The emulation
// build loads nothing: cuBLAS's kernels run on a real GPU only, and on a
// machine with the CUDA toolkit the real library would load and talk to a
// real driver, or none.
void* load_library(const LibrarySpec& spec, const std::vector<std::string>& first_dirs,
                   const std::function<bool(void*, std::string&)>& bind, std::string& path, std::string& reason);

}  // namespace moekit
