// The addon's entry point: installs the bindings every op registered for
// itself (native/ops/registry.h). Everything else lives in native/ops/
// (argument checks, parameters, version tables) and the backends.
#include <napi.h>

#include "binding/addon_data.h"
#include "common/build_info.h"
#include "device/cuda_runtime_host.h"
#include "ops/registry.h"

namespace {

Napi::Value build_info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("cuda", moekit::cuda_built());
  o.Set("cudaArchitectures", moekit::cuda_architectures_built());
  o.Set("cudaCompilerVersion", moekit::cuda_compiler_version_built());
  o.Set("emulated", moekit::emulated_profile_built());
  o.Set("napiVersion", NAPI_VERSION);
  return o;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new moekit::AddonData());
  // The interface version lib/binding.ts checks (MOEKIT_ABI there): bump
  // both when a binding function changes its arguments or results.
  exports.Set("moekitAbi", Napi::Number::New(env, 1));
  exports.Set("buildInfo", Napi::Function::New(env, build_info, "buildInfo"));
  moekit::install_bindings(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(moekit, init)
