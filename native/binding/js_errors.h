// Turning native failures into JS errors, and settling promises from the
// device queue threads.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <optional>

#include "../common/error.h"
#include "addon_data.h"

namespace moekit {

// TypeError / RangeError / Error by code, with a `code` property.
Napi::Error make_js_error(Napi::Env env, const Error& error);

// Runs a binding function, converting moekit::Error and std exceptions into
// JS exceptions. Every exported function goes through it; work it queues
// belongs to the calling environment (env_scope.h).
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    const EnvScope scope(addon_data(info.Env()).alive);
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw make_js_error(info.Env(), e);
  } catch (const std::bad_alloc&) {
    throw make_js_error(info.Env(), Error(ErrorCode::OutOfMemory, "out of host memory"));
  } catch (const std::exception& e) {
    throw make_js_error(info.Env(), Error(ErrorCode::Kernel, e.what()));
  }
}

// A promise created on the JS thread and settled once from any thread.
class PendingPromise {
 public:
  explicit PendingPromise(Napi::Env env);
  PendingPromise(const PendingPromise&) = delete;
  PendingPromise& operator=(const PendingPromise&) = delete;
  ~PendingPromise();

  Napi::Promise promise() const { return promise_; }

  // `make_value` runs on the JS thread and builds the resolution value.
  void resolve(std::function<Napi::Value(Napi::Env)> make_value);
  void reject(const Error& error);

  struct Completion {
    std::function<Napi::Value(Napi::Env)> make_value;
    std::optional<Error> error;
  };

 private:
  void settle(Completion* completion);

  Napi::Promise promise_;
  struct State;
  std::unique_ptr<State> state_;
};

using PendingPromisePtr = std::shared_ptr<PendingPromise>;

}  // namespace moekit
