// Test hooks: not part of the public API (lib/binding.ts types them for the
// tests). They fail work on purpose, poison new buffers, and report queue
// counters.
#include <napi.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../registry.h"
#include "host_buffers.h"

namespace moekit {

namespace {

// A gate a queue task waits at, for at most a given time.
class TimedGate {
 public:
  void open() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  template <typename Duration>
  void wait_for(Duration limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, limit, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// injectFailure(device, shape, fatal) -> a tensor whose producing work
// fails; with `fatal`, as a fatal fault that loses the device.
Napi::Value inject_failure(const Napi::CallbackInfo& info) {
  Device& device = arg_device(info, 0, "injectFailure");
  TensorRef out = allocate_tensor(device, DType::F32, arg_shape(info, 1, "injectFailure", "shape"), "injectFailure", "shape");
  const bool fatal = info.Length() > 2 && !info[2].IsUndefined() && arg_bool(info, 2, "injectFailure", "fatal");
  device.enqueue("injectFailure", {{}, {out.storage}}, [fatal](ExecContext&) {
    throw Error(fatal ? ErrorCode::DeviceLost : ErrorCode::Kernel, fatal ? "fatal fault injected for a test" : "failure injected for a test");
  });
  return TensorHandle::wrap(info.Env(), std::move(out));
}

// queueStats(device) -> { pending, skipped, pendingReadBytes }
Napi::Value queue_stats(const Napi::CallbackInfo& info) {
  Device& device = arg_device(info, 0, "queueStats");
  const QueueStats q = device.queue_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("pending", static_cast<double>(q.pending));
  o.Set("skipped", static_cast<double>(q.skipped));
  o.Set("pendingReadBytes", static_cast<double>(pending_read_bytes()));
  return o;
}

Napi::Value set_poison(const Napi::CallbackInfo& info) {
  Device& device = arg_device(info, 0, "setPoison");
  device.set_poison(arg_bool(info, 1, "setPoison", "on"));
  return info.Env().Undefined();
}

// writeInPlace(tensor, byte, fail, input?) -> undefined: sets every byte of
// `tensor` in place, as an op declaring it in TaskIO::in_place does (with
// `fail`, the write fails instead). `input`, when given, is read first, so a
// failed input shows how failures reach in-place buffers.
Napi::Value write_in_place(const Napi::CallbackInfo& info) {
  const char* op = "writeInPlace";
  const TensorRef t = arg_tensor(info, 0, op, "tensor");
  const int byte = static_cast<int>(arg_int(info, 1, op, "byte", 0, 255));
  const bool fail = arg_bool(info, 2, op, "fail");
  std::vector<StoragePtr> inputs;
  if (info.Length() > 3 && !info[3].IsUndefined()) inputs.push_back(arg_tensor(info, 3, op, "input").storage);
  TaskIO io{inputs, {}};
  io.in_place = {t.storage};
  t.device().enqueue(op, std::move(io), [t, byte, fail](ExecContext& ctx) {
    if (fail) throw Error(ErrorCode::Kernel, "in-place write failed for a test");
    ctx.device.fill_bytes(ctx, t.data(), byte, t.nbytes());
  });
  return info.Env().Undefined();
}

// holdQueue(device) -> release(): the device's queue waits at this point
// until release() is called, so a test can queue work behind it and know
// none of it has run. The hold gives up by itself after HOLD_LIMIT, so a
// test that forgets to release cannot hang the process.
constexpr auto HOLD_LIMIT = std::chrono::seconds(60);

Napi::Value hold_queue(const Napi::CallbackInfo& info) {
  Device& device = arg_device(info, 0, "holdQueue");
  auto gate = std::make_shared<TimedGate>();
  device.enqueue([gate](ExecContext&) { gate->wait_for(HOLD_LIMIT); });
  return Napi::Function::New(info.Env(), [gate](const Napi::CallbackInfo& call) {
    gate->open();
    return call.Env().Undefined();
  }, "release");
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("holdQueue", Napi::Function::New<guarded<hold_queue>>(env, "holdQueue"));
  exports.Set("writeInPlace", Napi::Function::New<guarded<write_in_place>>(env, "writeInPlace"));
  exports.Set("setPoison", Napi::Function::New<guarded<set_poison>>(env, "setPoison"));
  exports.Set("injectFailure", Napi::Function::New<guarded<inject_failure>>(env, "injectFailure"));
  exports.Set("queueStats", Napi::Function::New<guarded<queue_stats>>(env, "queueStats"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
