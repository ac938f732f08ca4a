// Tensors: creation from host data, empty and zeros, reads back to the
// host, copies between devices, and views.
#include <napi.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../core/latch.h"
#include "../../core/size_math.h"
#include "../../cpu/runtime/host_convert.h"
#include "../../device/cpu_device.h"
#include "../../device/registry.h"
#include "../registry.h"
#include "host_buffers.h"

namespace moekit {

StoragePtr host_staging(size_t bytes) { return cpu_device().allocate(bytes, AllocOptions(false, false)); }

namespace {

// The largest ArrayBuffer a read returns: Node.js 20's limit (buffer
// constants MAX_LENGTH). Newer Node.js versions allow more; a result beyond
// what the running engine takes is still rejected cleanly when it is made.
constexpr uint64_t MAX_READ_BYTES = uint64_t{1} << 32;

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

std::atomic<uint64_t> read_bytes_pending{0};

// Bytes handed to JS as an ArrayBuffer, which frees them. Not zero-filled:
// every byte is written before it is handed over.
struct HostBytes {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
  explicit HostBytes(size_t n) : data(n ? new uint8_t[n] : nullptr), size(n) { read_bytes_pending.fetch_add(n); }
  ~HostBytes() { read_bytes_pending.fetch_sub(size); }
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

void install(Napi::Env env, Napi::Object exports) {
  TensorHandle::define(env, exports);
  exports.Set("fromData", Napi::Function::New<guarded<from_data>>(env, "fromData"));
  exports.Set("empty", Napi::Function::New<guarded<empty>>(env, "empty"));
  exports.Set("zeros", Napi::Function::New<guarded<zeros>>(env, "zeros"));
  exports.Set("read", Napi::Function::New<guarded<read>>(env, "read"));
  exports.Set("copyTo", Napi::Function::New<guarded<copy_to>>(env, "copyTo"));
  exports.Set("reshape", Napi::Function::New<guarded<reshape>>(env, "reshape"));
}

}  // namespace

uint64_t pending_read_bytes() { return read_bytes_pending.load(); }

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
