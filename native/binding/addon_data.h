// Per-environment state of the addon (one per main thread or Worker).
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

#include "../core/env_scope.h"

namespace moekit {

struct AddonData {
  AddonData() : alive(std::make_shared<std::atomic<bool>>(true)) {}
  // Runs when the environment is torn down (its instance data is freed):
  // work it queued that has not started is skipped from now on.
  ~AddonData() { alive->store(false, std::memory_order_release); }
  AddonData(const AddonData&) = delete;
  AddonData& operator=(const AddonData&) = delete;

  Napi::FunctionReference tensor_constructor;
  Napi::FunctionReference marker_constructor;
  EnvAlive alive;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace moekit
