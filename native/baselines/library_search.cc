#include "library_search.h"

#include "../device/registry.h"

#include <link.h>

#include <cstdlib>

namespace moekit {

namespace {

// dlerror's text, without the "<file>: " it starts with when that is `name`
// (the message names the file already).
std::string last_dl_error(const std::string& name) {
  const char* e = dlerror();
  std::string text = e ? e : "unknown dynamic loader error";
  if (!name.empty() && text.rfind(name + ": ", 0) == 0) text.erase(0, name.size() + 2);
  return text;
}

// The file the dynamic loader picked for `name`.
std::string loaded_path(void* library, const std::string& name) {
  struct link_map* map = nullptr;
  if (dlinfo(library, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && map->l_name[0]) return map->l_name;
  return name;
}

}  // namespace

void* open_library(const std::string& name, const char* what, const std::function<bool(void*, std::string&)>& bind,
                   std::vector<LibraryAttempt>& attempts, std::string& path) {
  dlerror();
  void* library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    attempts.push_back({name, last_dl_error(name)});
    return nullptr;
  }
  std::string error;
  if (!bind(library, error)) {
    attempts.push_back({loaded_path(library, name), std::string("not a usable ") + what + ": " + error});
    dlclose(library);
    return nullptr;
  }
  path = loaded_path(library, name);
  return library;
}

std::string describe_attempts(const std::vector<LibraryAttempt>& attempts) {
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

std::vector<std::string> library_candidates(const std::vector<std::string>& sonames, const std::vector<std::string>& first_dirs) {
  std::vector<std::string> names;
  for (const auto& dir : first_dirs) {
    for (const auto& soname : sonames) names.push_back(dir + "/" + soname);
  }
  names.insert(names.end(), sonames.begin(), sonames.end());
  std::vector<std::string> all_dirs;
  if (const char* home = std::getenv("CUDA_HOME"); home && home[0]) all_dirs.push_back(std::string(home) + "/lib64");
  all_dirs.push_back("/usr/local/cuda/lib64");
  for (const auto& dir : all_dirs) {
    for (const auto& soname : sonames) names.push_back(dir + "/" + soname);
  }
  return names;
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

void* load_library(const LibrarySpec& spec, const std::vector<std::string>& first_dirs,
                   const std::function<bool(void*, std::string&)>& bind, std::string& path, std::string& reason) {
#if defined(MOEKIT_EMULATION)
  (void)first_dirs;
  (void)bind;
  (void)path;
  reason = std::string(spec.what) + " does not run on the emulated GPU; the cuBLAS baselines need a real one";
  return nullptr;
#else
  std::vector<LibraryAttempt> attempts;
  const auto opened = [&](void* library) {
    register_exit_handler_again();  // after the library's own runtime registered its exit handler
    reason.clear();
    return library;
  };
  const char* explicit_path = std::getenv(spec.path_env);
  if (explicit_path && explicit_path[0]) {
    if (void* library = open_library(explicit_path, spec.what, bind, attempts, path)) return opened(library);
    std::string names;
    for (size_t i = 0; i < spec.sonames.size(); ++i) names += (i == 0 ? "" : i + 1 == spec.sonames.size() ? " and " : ", ") + spec.sonames[i];
    reason = std::string(spec.what) + " could not be loaded from " + spec.path_env + "=" + explicit_path + ": " + attempts.front().error +
             "; point it at " + spec.path_hint + ", or unset it to search " + names;
    return nullptr;
  }
  for (const auto& name : library_candidates(spec.sonames, first_dirs)) {
    if (void* library = open_library(name, spec.what, bind, attempts, path)) return opened(library);
  }
  reason = std::string(spec.what) + " was not found (tried " + describe_attempts(attempts) + "); " + spec.purpose + ", " + spec.fix;
  return nullptr;
#endif
}

}  // namespace moekit
