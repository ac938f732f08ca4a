#include "registry.h"

#include <cstring>

#include "../binding/js_errors.h"
#include "../common/build_info.h"

namespace moekit {

namespace {

struct Registry {
  std::vector<std::pair<const char*, BindingInstaller>> installers;
  std::vector<std::pair<std::string, VersionLister>> tables;
};

// Built on first use: static initialisers of other files call into it in
// an unspecified order.
Registry& registry() {
  static auto* r = new Registry();
  return *r;
}


// kernelVersions() -> { op: [{ name, idea, minSm, maxSm, verifiedOn, emulatedOn, absent }] }
Napi::Value kernel_versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [op, versions] : registered_versions()) {
    Napi::Array a = Napi::Array::New(env, versions.size());
    for (size_t i = 0; i < versions.size(); ++i) {
      const auto& v = versions[i];
      Napi::Object e = Napi::Object::New(env);
      e.Set("name", v.name);
      e.Set("idea", v.idea);
      e.Set("minSm", v.min_sm);
      e.Set("maxSm", v.max_sm);
      e.Set("verifiedOn", v.verified_on);
      e.Set("emulatedOn", v.emulated_on);
      e.Set("absent", v.absent);
      a.Set(static_cast<uint32_t>(i), e);
    }
    o.Set(op, a);
  }
  return o;
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("kernelVersions", Napi::Function::New<guarded<kernel_versions>>(env, "kernelVersions"));
}

}  // namespace

bool register_bindings(const char* name, BindingInstaller installer) {
  registry().installers.emplace_back(name, installer);
  return true;
}

bool register_versions(const char* op, VersionLister list) {
  registry().tables.emplace_back(op, list);
  return true;
}

void install_bindings(Napi::Env env, Napi::Object exports) {
  for (const auto& [name, installer] : registry().installers) installer(env, exports);
}

std::vector<std::pair<std::string, std::vector<VersionRecord>>> registered_versions() {
  std::vector<std::pair<std::string, std::vector<VersionRecord>>> out;
  for (const auto& [op, list] : registry().tables) out.emplace_back(op, list());
  return out;
}

std::string code_absent(const char* code) {
  if (code == nullptr || *code == '\0') return "";
  const std::string built = cuda_architectures_built();
  // Entries look like "90a-real" or "90a-virtual" (or a bare "90a").
  size_t pos = 0;
  while (pos < built.size()) {
    size_t end = built.find(',', pos);
    if (end == std::string::npos) end = built.size();
    const std::string entry = built.substr(pos, end - pos);
    if (entry == code || entry.rfind(std::string(code) + "-", 0) == 0) return "";
    pos = end + 1;
  }
  return std::string("this build has no sm_") + code + " code (built for " + (built.empty() ? "no GPU" : built) +
         "); rebuild with MOEKIT_CUDA_ARCHITECTURES=native on the GPU machine, or include " + code + "-real";
}

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
