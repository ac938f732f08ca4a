#include "library_search.h"

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

}  // namespace moekit
