// Per-environment state of the addon (one per main thread or Worker).
#pragma once

#include <napi.h>

namespace moekit {

struct AddonData {
  Napi::FunctionReference tensor_constructor;
  Napi::FunctionReference marker_constructor;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace moekit
