// Devices: what there is, synchronization, memory statistics, and timing
// markers in a device's queue.
#include <napi.h>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../device/registry.h"
#include "../registry.h"

namespace moekit {

namespace {

const char* kind_name(DeviceKind k) { return k == DeviceKind::Cpu ? "cpu" : "cuda"; }

Napi::Object info_to_js(Napi::Env env, const DeviceInfo& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", d.id);
  o.Set("kind", kind_name(d.kind));
  o.Set("ordinal", d.ordinal);
  o.Set("name", d.name);
  o.Set("totalMemory", static_cast<double>(d.total_memory));
  if (d.kind == DeviceKind::Cpu) {
    o.Set("threads", d.threads);
  } else {
    Napi::Array cc = Napi::Array::New(env, 2);
    cc.Set(0u, d.cc_major);
    cc.Set(1u, d.cc_minor);
    o.Set("computeCapability", cc);
    o.Set("smCount", d.sm_count);
    o.Set("l2Bytes", static_cast<double>(d.l2_bytes));
    o.Set("sharedMemoryPerBlockOptin", static_cast<double>(d.shared_memory_per_block_optin));
    o.Set("sharedMemoryPerSm", static_cast<double>(d.shared_memory_per_sm));
    o.Set("clockKhz", d.clock_khz);
    o.Set("memoryClockKhz", d.memory_clock_khz);
    o.Set("memoryBusWidth", d.memory_bus_width);
    o.Set("driverVersion", d.driver_version);
    o.Set("runtimeVersion", d.runtime_version);
  }
  if (!d.lost.empty()) o.Set("lost", d.lost);
  return o;
}

Napi::Value devices(const Napi::CallbackInfo& info) {
  const auto infos = device_infos();
  Napi::Array a = Napi::Array::New(info.Env(), infos.size());
  for (size_t i = 0; i < infos.size(); ++i) a.Set(static_cast<uint32_t>(i), info_to_js(info.Env(), infos[i]));
  return a;
}

Napi::Value cuda_status(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CudaProbe& p = cuda_probe();
  Napi::Object o = Napi::Object::New(env);
  o.Set("built", cuda_built());
  o.Set("available", !p.devices.empty());
  o.Set("reason", p.unavailable_reason);
  Napi::Array skipped = Napi::Array::New(env, p.skipped.size());
  for (size_t i = 0; i < p.skipped.size(); ++i) skipped.Set(static_cast<uint32_t>(i), p.skipped[i]);
  o.Set("skipped", skipped);
  o.Set("runtimeVersion", cuda_runtime_version());
  o.Set("driverVersion", cuda_driver_version());
  return o;
}

Napi::Value synchronize(const Napi::CallbackInfo& info) {
  Device& device = arg_device(info, 0, "synchronize");
  auto pending = std::make_shared<PendingPromise>(info.Env());
  Napi::Promise promise = pending->promise();
  device.enqueue([pending](ExecContext& ctx) {
    try {
      ctx.device.finish(ctx);
      ctx.device.note_idle();
      if (auto error = ctx.device.take_error()) {
        pending->reject(*error);
      } else if (auto lost = ctx.device.lost()) {
        pending->reject(*lost);
      } else {
        pending->resolve(nullptr);
      }
    } catch (const Error& e) {
      ctx.device.note_failure(e);
      pending->reject(ctx.device.lost().value_or(e));
    }
  });
  return promise;
}

Napi::Value memory(const Napi::CallbackInfo& info) {
  Device& device = arg_device(info, 0, "memory");
  const MemoryStats m = device.memory();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("bytes", static_cast<double>(m.bytes));
  o.Set("buffers", static_cast<double>(m.buffers));
  o.Set("tensors", static_cast<double>(m.tensors));
  if (device.kind() == DeviceKind::Cpu) {
    o.Set("cached", static_cast<double>(m.cached));
    o.Set("limit", static_cast<double>(m.limit));
  } else {
    o.Set("reserved", static_cast<double>(m.reserved));
    o.Set("deviceFree", static_cast<double>(m.device_free));
    o.Set("deviceTotal", static_cast<double>(m.device_total));
  }
  return o;
}

Napi::Value release_cache(const Napi::CallbackInfo& info) {
  Device& device = arg_device(info, 0, "releaseCache");
  const uint64_t before = device.memory().cached + device.memory().reserved;
  device.release_cache();
  const MemoryStats after = device.memory();
  const uint64_t now = after.cached + after.reserved;
  return Napi::Number::New(info.Env(), static_cast<double>(before > now ? before - now : 0));
}

// Timing markers: marker(device) records a point in the device's queue;
// elapsed(a, b) resolves to the milliseconds between two markers.
struct MarkerBox {
  Device* device = nullptr;
  std::unique_ptr<Marker> marker;  // set by the queue
};

const napi_type_tag MARKER_TAG = {0x6d6f656b69742d6dull, 0x61726b65722d7631ull};

Napi::Value marker(const Napi::CallbackInfo& info) {
  Device& device = arg_device(info, 0, "marker");
  auto* box = new std::shared_ptr<MarkerBox>(std::make_shared<MarkerBox>());
  (*box)->device = &device;
  std::shared_ptr<MarkerBox> shared = *box;
  device.enqueue([shared](ExecContext& ctx) { shared->marker = ctx.device.record_marker(ctx); });
  auto ext = Napi::External<std::shared_ptr<MarkerBox>>::New(info.Env(), box,
                                                              [](Napi::Env, std::shared_ptr<MarkerBox>* b) { delete b; });
  ext.TypeTag(&MARKER_TAG);
  return ext;
}

std::shared_ptr<MarkerBox> arg_marker(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = i < info.Length() ? info[i] : info.Env().Undefined();
  if (!v.IsExternal() || !v.As<Napi::External<std::shared_ptr<MarkerBox>>>().CheckTypeTag(&MARKER_TAG)) {
    throw_type_error("elapsed", name, "a marker", describe_value(v));
  }
  return *v.As<Napi::External<std::shared_ptr<MarkerBox>>>().Data();
}

Napi::Value elapsed(const Napi::CallbackInfo& info) {
  auto start = arg_marker(info, 0, "start");
  auto end = arg_marker(info, 1, "end");
  if (start->device != end->device) throw_type_error("elapsed", "end", "a marker of the same device as start", "one of another device");
  auto pending = std::make_shared<PendingPromise>(info.Env());
  Napi::Promise promise = pending->promise();
  start->device->enqueue([pending, start, end](ExecContext& ctx) {
    try {
      ctx.device.finish(ctx);
      if (auto error = ctx.device.take_error()) {
        pending->reject(*error);
        return;
      }
      if (!start->marker || !end->marker) {
        pending->reject(Error(ErrorCode::Kernel, "elapsed: a marker was not recorded because earlier queued work failed"));
        return;
      }
      const double ms = ctx.device.elapsed_ms(*start->marker, *end->marker);
      pending->resolve([ms](Napi::Env env) { return Napi::Number::New(env, ms); });
    } catch (const Error& e) {
      pending->reject(e);
    }
  });
  return promise;
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("devices", Napi::Function::New<guarded<devices>>(env, "devices"));
  exports.Set("cudaStatus", Napi::Function::New<guarded<cuda_status>>(env, "cudaStatus"));
  exports.Set("synchronize", Napi::Function::New<guarded<synchronize>>(env, "synchronize"));
  exports.Set("memory", Napi::Function::New<guarded<memory>>(env, "memory"));
  exports.Set("releaseCache", Napi::Function::New<guarded<release_cache>>(env, "releaseCache"));
  exports.Set("marker", Napi::Function::New<guarded<marker>>(env, "marker"));
  exports.Set("elapsed", Napi::Function::New<guarded<elapsed>>(env, "elapsed"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
