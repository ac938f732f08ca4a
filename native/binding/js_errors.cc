#include "js_errors.h"

#include <atomic>
#include <mutex>

namespace moekit {

Napi::Error make_js_error(Napi::Env env, const Error& error) {
  Napi::Error e;
  switch (error.code()) {
    case ErrorCode::InvalidArgument: e = Napi::TypeError::New(env, error.what()); break;
    case ErrorCode::OutOfRange: e = Napi::RangeError::New(env, error.what()); break;
    default: e = Napi::Error::New(env, error.what()); break;
  }
  e.Set("code", Napi::String::New(env, error_code_name(error.code())));
  return e;
}

namespace {

void settle_on_js_thread(Napi::Env env, Napi::Function, Napi::Promise::Deferred* deferred,
                         PendingPromise::Completion* completion) {
  std::unique_ptr<PendingPromise::Completion> own(completion);
  if (env == nullptr || deferred == nullptr) return;  // environment shutting down
  try {
    if (own->error) {
      deferred->Reject(make_js_error(env, *own->error).Value());
    } else {
      deferred->Resolve(own->make_value ? own->make_value(env) : env.Undefined());
    }
  } catch (const Napi::Error& e) {
    deferred->Reject(e.Value());
  } catch (const std::exception& e) {
    deferred->Reject(make_js_error(env, Error(ErrorCode::Kernel, e.what())).Value());
  }
}

// Whether the thread-safe function still exists. Devices and their queue
// threads outlive any one environment: when a Worker ends, Node finalizes
// its thread-safe functions, and a queue thread settling a promise of that
// Worker afterwards must not touch the freed function.
struct Liveness {
  std::mutex mutex;
  bool closed = false;
};

using LivenessPtr = std::shared_ptr<Liveness>;

void finalize(Napi::Env, LivenessPtr* liveness, Napi::Promise::Deferred* deferred) {
  {
    std::lock_guard<std::mutex> lock((*liveness)->mutex);
    (*liveness)->closed = true;
  }
  delete liveness;
  delete deferred;
}

using Tsfn = Napi::TypedThreadSafeFunction<Napi::Promise::Deferred, PendingPromise::Completion, settle_on_js_thread>;

}  // namespace

struct PendingPromise::State {
  Tsfn tsfn;
  LivenessPtr liveness = std::make_shared<Liveness>();
  std::atomic<bool> settled{false};
};

PendingPromise::PendingPromise(Napi::Env env) : state_(std::make_unique<State>()) {
  auto* deferred = new Napi::Promise::Deferred(Napi::Promise::Deferred::New(env));
  promise_ = deferred->Promise();
  state_->tsfn = Tsfn::New(env, "moekit", 0, 1, deferred, finalize, new LivenessPtr(state_->liveness));
}

PendingPromise::~PendingPromise() {
  if (state_->settled.load()) return;
  try {
    settle(new Completion{nullptr, Error(ErrorCode::Kernel, "operation was abandoned")});
  } catch (...) {
    // A destructor must not throw; the promise stays pending.
  }
}

void PendingPromise::resolve(std::function<Napi::Value(Napi::Env)> make_value) {
  settle(new Completion{std::move(make_value), std::nullopt});
}

void PendingPromise::reject(const Error& error) { settle(new Completion{nullptr, error}); }

void PendingPromise::settle(Completion* completion) {
  std::unique_ptr<Completion> own(completion);
  if (state_->settled.exchange(true)) return;
  std::lock_guard<std::mutex> lock(state_->liveness->mutex);
  if (state_->liveness->closed) return;  // its environment is gone
  // The queue is unbounded, so this never waits while holding the lock.
  const napi_status status = state_->tsfn.BlockingCall(own.get());
  if (status == napi_ok) {
    own.release();  // settle_on_js_thread owns it now
    state_->tsfn.Release();
  } else if (status != napi_closing) {
    state_->tsfn.Release();
  }
  // napi_closing: the function is being torn down; it must not be released again.
}

}  // namespace moekit
