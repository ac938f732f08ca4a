#include "js_errors.h"

#include <atomic>

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

using Tsfn = Napi::TypedThreadSafeFunction<Napi::Promise::Deferred, PendingPromise::Completion, settle_on_js_thread>;

}  // namespace

struct PendingPromise::State {
  Tsfn tsfn;
  std::atomic<bool> settled{false};
};

PendingPromise::PendingPromise(Napi::Env env) : state_(std::make_unique<State>()) {
  auto* deferred = new Napi::Promise::Deferred(Napi::Promise::Deferred::New(env));
  promise_ = deferred->Promise();
  state_->tsfn = Tsfn::New(env, "moekit", 0, 1, deferred,
                           [](Napi::Env, void*, Napi::Promise::Deferred* d) { delete d; });
}

PendingPromise::~PendingPromise() {
  if (!state_->settled.load()) settle(new Completion{nullptr, Error(ErrorCode::Kernel, "operation was abandoned")});
}

void PendingPromise::resolve(std::function<Napi::Value(Napi::Env)> make_value) {
  settle(new Completion{std::move(make_value), std::nullopt});
}

void PendingPromise::reject(const Error& error) { settle(new Completion{nullptr, error}); }

void PendingPromise::settle(Completion* completion) {
  if (state_->settled.exchange(true)) {
    delete completion;
    return;
  }
  if (state_->tsfn.BlockingCall(completion) != napi_ok) delete completion;
  state_->tsfn.Release();
}

}  // namespace moekit
