// Devices and tensors: creation, reads, copies between devices, casts,
// views, synchronization, memory statistics and timing markers.
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "cast.h"
#include "../../core/latch.h"
#include "../../core/size_math.h"
#include "../../binding/addon_data.h"
#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../cpu/runtime/host_convert.h"
#include "../../device/cpu_device.h"
#include "../../device/registry.h"
#include "../register.h"

namespace moekit {

namespace {

// The largest ArrayBuffer a read returns: Node.js 20's limit (buffer
// constants MAX_LENGTH). Newer Node.js versions allow more; a result beyond
// what the running engine takes is still rejected cleanly when it is made.
constexpr uint64_t MAX_READ_BYTES = uint64_t{1} << 32;

const char* kind_name(DeviceKind k) { return k == DeviceKind::Cpu ? "cpu" : "cuda"; }

// Host memory for data on its way to or from a device (not a tensor).
// Never poisoned (filled at once) and safe from queue threads (no drain).
StoragePtr host_staging(size_t bytes) { return cpu_device().allocate(bytes, AllocOptions(false, false)); }

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

HostArray host_array_type(napi_typedarray_type t, const char* op) {
  switch (t) {
    case napi_int8_array: return HostArray::I8;
    case napi_uint8_array: return HostArray::U8;
    case napi_uint8_clamped_array: return HostArray::U8;
    case napi_int16_array: return HostArray::I16;
    case napi_uint16_array: return HostArray::U16;
    case napi_int32_array: return HostArray::I32;
    case napi_uint32_array: return HostArray::U32;
    case napi_float32_array: return HostArray::F32;
    case napi_float64_array: return HostArray::F64;
    default: throw_type_error(op, "data", "a numeric typed array other than BigInt64Array/BigUint64Array", "a BigInt typed array");
  }
}

// fromData(device, dtype, shape, data: TypedArray, raw: boolean)
// raw: data's bytes are the storage bytes (byte length must match);
// otherwise each element is converted to dtype.
Napi::Value from_data(const Napi::CallbackInfo& info) {
  const char* op = "tensor";
  Device& device = arg_device(info, 0, op);
  const DType dtype = arg_dtype(info, 1, op, "dtype");
  const Shape shape = arg_shape(info, 2, op, "shape");
  if (info.Length() < 4 || !info[3].IsTypedArray()) throw_type_error(op, "data", "a typed array", describe_value(info.Length() < 4 ? info.Env().Undefined() : info[3]));
  const bool raw = arg_bool(info, 4, op, "raw");
  Napi::TypedArray data = info[3].As<Napi::TypedArray>();
  const size_t nbytes = checked_tensor_bytes(dtype, shape, op, "shape");
  const int64_t numel = shape_numel(shape);
  const HostArray src_type = host_array_type(data.TypedArrayType(), op);
  // The element pointer and count from the engine itself: a typed array's
  // `length` can be hidden or faked from JS, its internal length cannot.
  napi_typedarray_type type;
  size_t length = 0;
  void* elements = nullptr;
  napi_value backing;
  size_t offset = 0;
  if (napi_get_typedarray_info(info.Env(), data, &type, &length, &elements, &backing, &offset) != napi_ok) {
    throw_type_error(op, "data", "a typed array with readable memory", "one whose memory cannot be read");
  }
  const size_t data_bytes = data.ByteLength();
  if (raw) {
    if (data_bytes != nbytes) {
      throw_range_error(op, "data", std::to_string(nbytes) + " bytes (shape " + shape_string(shape) + " of " + dtype_name(dtype) + ")",
                        std::to_string(data_bytes) + " bytes");
    }
  } else if (static_cast<int64_t>(length) != numel) {
    throw_range_error(op, "data", std::to_string(numel) + " elements (shape " + shape_string(shape) + ")", std::to_string(length) + " elements");
  }
  if (data_bytes > 0 && elements == nullptr) throw_type_error(op, "data", "a typed array with readable memory", "a detached one");
  if (!raw) {
    double bad = 0;
    const int64_t at = first_invalid_integer(elements, src_type, numel, dtype, &bad);
    if (at >= 0) {
      const std::string range = dtype == DType::U8 ? "[0, 255]" : "[-2147483648, 2147483647]";
      throw_range_error(op, "data[" + std::to_string(at) + "]", "an integer in " + range + " for dtype '" + dtype_name(dtype) + "'",
                        number_text(bad));
    }
  }
  TensorRef out = allocate_tensor(device, dtype, shape, op, "shape");
  // Copy now: the caller may change its array as soon as we return. The
  // staging buffer comes from the host allocator, whose cache of large
  // blocks spares fresh page faults on repeated uploads.
  auto staged = host_staging(data_bytes);
  if (data_bytes > 0) host_copy(staged->data(), elements, data_bytes);
  device.enqueue("tensor", {{}, {out.storage}}, [out, staged, raw, src_type, numel, nbytes](ExecContext& ctx) {
    if (nbytes == 0) return;
    if (raw) {
      ctx.device.copy_from_host(ctx, out.data(), staged->data(), nbytes);
    } else if (ctx.device.kind() == DeviceKind::Cpu) {
      convert_host_array(staged->data(), src_type, numel, out.data(), out.dtype);
    } else {
      auto converted = host_staging(nbytes);
      convert_host_array(staged->data(), src_type, numel, converted->data(), out.dtype);
      ctx.device.copy_from_host(ctx, out.data(), converted->data(), nbytes);
    }
  });
  return TensorHandle::wrap(info.Env(), std::move(out));
}

// empty(device, dtype, shape, pinned) / zeros(...)
Napi::Value make_tensor(const Napi::CallbackInfo& info, const char* op, bool zero) {
  Device& device = arg_device(info, 0, op);
  const DType dtype = arg_dtype(info, 1, op, "dtype");
  const Shape shape = arg_shape(info, 2, op, "shape");
  const bool pinned = arg_bool(info, 3, op, "pinned");
  if (pinned && device.kind() != DeviceKind::Cpu) throw_type_error(op, "options.pinned", "false for a GPU tensor (only host tensors are pinned)", "true");
  if (pinned && cuda_probe().devices.empty()) throw_unsupported(std::string(op) + ": pinned host memory needs a CUDA device: " + cuda_probe().unavailable_reason);
  TensorRef out = allocate_tensor(device, dtype, shape, op, "shape", AllocOptions(pinned));
  if (zero && out.nbytes() > 0) {
    device.enqueue("zeros", {{}, {out.storage}}, [out](ExecContext& ctx) { ctx.device.fill_bytes(ctx, out.data(), 0, out.nbytes()); });
  }
  return TensorHandle::wrap(info.Env(), std::move(out));
}

Napi::Value empty(const Napi::CallbackInfo& info) { return make_tensor(info, "empty", false); }
Napi::Value zeros(const Napi::CallbackInfo& info) { return make_tensor(info, "zeros", true); }

// Host buffers of read results not yet handed to JS (a test hook reads it:
// a read whose environment is gone must free its buffer).
std::atomic<uint64_t> pending_read_bytes{0};

// Bytes handed to JS as an ArrayBuffer, which frees them. Not zero-filled:
// every byte is written before it is handed over.
struct HostBytes {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
  explicit HostBytes(size_t n) : data(n ? new uint8_t[n] : nullptr), size(n) { pending_read_bytes.fetch_add(n); }
  ~HostBytes() { pending_read_bytes.fetch_sub(size); }
  HostBytes(const HostBytes&) = delete;
  HostBytes& operator=(const HostBytes&) = delete;
};

// An ArrayBuffer that takes ownership of `bytes`. Throws a RangeError (and
// frees them) when the engine cannot make an ArrayBuffer that large.
Napi::Value external_buffer(Napi::Env env, std::unique_ptr<HostBytes> bytes) {
  if (bytes->size == 0) return Napi::ArrayBuffer::New(env, 0);
  napi_value result = nullptr;
  HostBytes* raw = bytes.get();
  const napi_status status = napi_create_external_arraybuffer(
      env, raw->data.get(), raw->size, [](napi_env, void*, void* hint) { delete static_cast<HostBytes*>(hint); }, raw, &result);
  if (status != napi_ok) {
    // Clear whatever the engine threw; the finalizer was not registered.
    napi_value ignored;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) (void)napi_get_and_clear_last_exception(env, &ignored);
    throw Error(ErrorCode::OutOfRange, "read: a result of " + std::to_string(raw->size) +
                                           " bytes is larger than this Node.js can hold in one ArrayBuffer; read it in parts with toArray({ start, end })");
  }
  (void)bytes.release();  // the ArrayBuffer's finalizer owns it now
  return Napi::Value(env, result);
}

// read(tensor, decode, start, end) -> Promise<ArrayBuffer>: elements
// [start, end) as raw storage bytes, or with decode as f32 (float dtypes;
// integers come back raw).
Napi::Value read(const Napi::CallbackInfo& info) {
  const char* op = "read";
  const TensorRef& t = arg_tensor(info, 0, op, "tensor");
  const bool decode = arg_bool(info, 1, op, "decode") && dtype_is_float(t.dtype) && t.dtype != DType::F32;
  const int64_t numel = t.numel();
  const int64_t start = arg_int(info, 2, op, "options.start", 0, numel);
  const int64_t end = arg_int(info, 3, op, "options.end", start, numel);
  const int64_t count = end - start;
  const size_t element = dtype_size(t.dtype);
  const size_t out_bytes = static_cast<size_t>(count) * (decode ? sizeof(float) : element);
  if (out_bytes > MAX_READ_BYTES) {
    throw_range_error(op, "the result", "at most " + size_text(MAX_READ_BYTES) + " bytes (the largest ArrayBuffer Node.js 20 makes)",
                      std::to_string(out_bytes) + " bytes for " + std::to_string(count) +
                          " elements; read it in parts with toArray({ start, end }) or bytes({ start, end })");
  }
  auto pending = std::make_shared<PendingPromise>(info.Env());
  Napi::Promise promise = pending->promise();
  const EnvAlive env = current_env();
  t.device().enqueue([t, decode, start, count, element, out_bytes, pending, env](ExecContext& ctx) {
    if (!env_alive(env)) return;  // nobody is left to take the result
    try {
      if (auto failed = t.storage->failure()) {
        pending->reject(*failed);
        return;
      }
      if (auto lost = ctx.device.lost()) {
        pending->reject(*lost);
        return;
      }
      const char* src_begin = static_cast<const char*>(t.data()) + static_cast<size_t>(start) * element;
      const size_t src_bytes = static_cast<size_t>(count) * element;
      auto raw = std::make_unique<HostBytes>(out_bytes);
      if (decode) {
        // Decode straight from device memory on the CPU, through staging for a GPU.
        std::shared_ptr<Storage> staged;
        const void* src = src_begin;
        if (ctx.device.kind() != DeviceKind::Cpu) {
          staged = host_staging(src_bytes);
          ctx.device.copy_to_host(ctx, staged->data(), src_begin, src_bytes);
          src = staged->data();
        }
        decode_to_f32(src, t.dtype, count, reinterpret_cast<float*>(raw->data.get()));
      } else {
        ctx.device.copy_to_host(ctx, raw->data.get(), src_begin, src_bytes);
      }
      if (auto error = ctx.device.take_error()) {
        pending->reject(*error);
        return;
      }
      // Owned by the resolver: freed with it when the environment is gone
      // before it runs.
      auto owned = std::make_shared<std::unique_ptr<HostBytes>>(std::move(raw));
      pending->resolve([owned](Napi::Env js) { return external_buffer(js, std::move(*owned)); });
    } catch (const Error& e) {
      ctx.device.note_failure(e);
      pending->reject(e);
    } catch (const std::bad_alloc&) {
      pending->reject(Error(ErrorCode::OutOfMemory, "read: out of host memory for the result of " + std::to_string(out_bytes) + " bytes"));
    } catch (const std::exception& e) {
      pending->reject(Error(ErrorCode::Kernel, e.what()));
    }
  });
  return promise;
}

// copyTo(tensor, device, pinned) -> a copy on `device`.
Napi::Value copy_to(const Napi::CallbackInfo& info) {
  const char* op = "to";
  const TensorRef src = arg_tensor(info, 0, op, "tensor");
  Device& dst_device = arg_device(info, 1, op);
  const bool pinned = arg_bool(info, 2, op, "pinned");
  if (pinned && dst_device.kind() != DeviceKind::Cpu) throw_type_error(op, "options.pinned", "false for a GPU tensor (only host tensors are pinned)", "true");
  if (pinned && cuda_probe().devices.empty()) throw_unsupported(std::string(op) + ": pinned host memory needs a CUDA device: " + cuda_probe().unavailable_reason);
  TensorRef dst;
  dst.dtype = src.dtype;
  dst.shape = src.shape;
  // Not poisoned: the copy writes every byte, possibly from another queue.
  dst.storage = dst_device.allocate(src.nbytes(), AllocOptions(pinned, false));
  Device& src_device = src.device();
  const size_t n = src.nbytes();
  if (&src_device == &dst_device) {
    src_device.enqueue("to", {{src.storage}, {dst.storage}},
                       [src, dst, n](ExecContext& ctx) { ctx.device.copy_within(ctx, dst.data(), src.data(), n); });
  } else if (src_device.kind() == DeviceKind::Cpu) {
    // The GPU queue copies once the CPU queue has produced the source (and
    // any failure of it, which the GPU task then inherits).
    auto ready = std::make_shared<Latch>();
    src_device.enqueue([ready](ExecContext&) { ready->open(); });
    dst_device.enqueue("to", {{src.storage}, {dst.storage}, [ready] { ready->wait(); }, nullptr},
                       [src, dst, n](ExecContext& ctx) { ctx.device.copy_from_host(ctx, dst.data(), src.data(), n); });
  } else if (dst_device.kind() == DeviceKind::Cpu) {
    // The GPU queue writes the host buffer (or marks it failed); the CPU queue waits for it.
    auto ready = std::make_shared<Latch>();
    src_device.enqueue("to", {{src.storage}, {dst.storage}, nullptr, [ready] { ready->open(); }},
                       [src, dst, n](ExecContext& ctx) { ctx.device.copy_to_host(ctx, dst.data(), src.data(), n); });
    dst_device.enqueue([ready](ExecContext&) { ready->wait(); });
  } else if (!enqueue_peer_copy(src.storage, dst.storage, n)) {
    // Between GPUs that cannot reach each other's memory: through host memory.
    auto staged = host_staging(n);
    auto ready = std::make_shared<Latch>();
    src_device.enqueue("to", {{src.storage}, {staged}, nullptr, [ready] { ready->open(); }},
                       [src, staged, n](ExecContext& ctx) { ctx.device.copy_to_host(ctx, staged->data(), src.data(), n); });
    dst_device.enqueue("to", {{staged}, {dst.storage}, [ready] { ready->wait(); }, nullptr},
                       [staged, dst, n](ExecContext& ctx) { ctx.device.copy_from_host(ctx, dst.data(), staged->data(), n); });
  }
  return TensorHandle::wrap(info.Env(), std::move(dst));
}

Napi::Value cast(const Napi::CallbackInfo& info) {
  const TensorRef src = arg_tensor(info, 0, "cast", "tensor");
  const DType dtype = arg_dtype(info, 1, "cast", "dtype");
  TensorRef dst = allocate_tensor(src.device(), dtype, src.shape, "cast", "the output");
  src.device().enqueue("cast", {{src.storage}, {dst.storage}}, [src, dst](ExecContext& ctx) {
    const CastParams p{src.data(), dst.data(), src.dtype, dst.dtype, src.numel()};
    if (ctx.device.kind() == DeviceKind::Cpu) {
      cast_cpu(p);
    } else {
#ifdef MOEKIT_WITH_CUDA
      cast_v1(p, static_cast<cudaStream_t>(ctx.stream));
#endif
    }
  });
  return TensorHandle::wrap(info.Env(), std::move(dst));
}

Napi::Value reshape(const Napi::CallbackInfo& info) {
  const TensorRef src = arg_tensor(info, 0, "reshape", "tensor");
  Shape shape = arg_shape(info, 1, "reshape", "shape");
  if (shape_numel(shape) != src.numel()) {
    throw_range_error("reshape", "shape", "a shape of " + std::to_string(src.numel()) + " elements (as " + shape_string(src.shape) + ")",
                      shape_string(shape) + " (" + std::to_string(shape_numel(shape)) + " elements)");
  }
  TensorRef view = src;
  view.shape = std::move(shape);
  return TensorHandle::wrap(info.Env(), std::move(view));
}

Napi::Value synchronize(const Napi::CallbackInfo& info) {
  Device& device = arg_device(info, 0, "synchronize");
  auto pending = std::make_shared<PendingPromise>(info.Env());
  Napi::Promise promise = pending->promise();
  device.enqueue([pending](ExecContext& ctx) {
    try {
      ctx.device.finish(ctx);
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

// Test hooks (not part of the public API).

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
  o.Set("pendingReadBytes", static_cast<double>(pending_read_bytes.load()));
  return o;
}

Napi::Value set_poison(const Napi::CallbackInfo& info) {
  Device& device = arg_device(info, 0, "setPoison");
  device.set_poison(arg_bool(info, 1, "setPoison", "on"));
  return info.Env().Undefined();
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

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  TensorHandle::define(env, exports);
  exports.Set("devices", Napi::Function::New<guarded<devices>>(env, "devices"));
  exports.Set("cudaStatus", Napi::Function::New<guarded<cuda_status>>(env, "cudaStatus"));
  exports.Set("fromData", Napi::Function::New<guarded<from_data>>(env, "fromData"));
  exports.Set("empty", Napi::Function::New<guarded<empty>>(env, "empty"));
  exports.Set("zeros", Napi::Function::New<guarded<zeros>>(env, "zeros"));
  exports.Set("read", Napi::Function::New<guarded<read>>(env, "read"));
  exports.Set("copyTo", Napi::Function::New<guarded<copy_to>>(env, "copyTo"));
  exports.Set("cast", Napi::Function::New<guarded<cast>>(env, "cast"));
  exports.Set("reshape", Napi::Function::New<guarded<reshape>>(env, "reshape"));
  exports.Set("synchronize", Napi::Function::New<guarded<synchronize>>(env, "synchronize"));
  exports.Set("memory", Napi::Function::New<guarded<memory>>(env, "memory"));
  exports.Set("setPoison", Napi::Function::New<guarded<set_poison>>(env, "setPoison"));
  exports.Set("injectFailure", Napi::Function::New<guarded<inject_failure>>(env, "injectFailure"));
  exports.Set("queueStats", Napi::Function::New<guarded<queue_stats>>(env, "queueStats"));
  exports.Set("releaseCache", Napi::Function::New<guarded<release_cache>>(env, "releaseCache"));
  exports.Set("marker", Napi::Function::New<guarded<marker>>(env, "marker"));
  exports.Set("elapsed", Napi::Function::New<guarded<elapsed>>(env, "elapsed"));
}

}  // namespace moekit
