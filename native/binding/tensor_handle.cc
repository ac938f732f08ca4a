#include "tensor_handle.h"

#include "addon_data.h"
#include "args.h"

namespace moekit {

namespace {

const napi_type_tag TENSOR_TAG = {0x6d6f656b69742d74ull, 0x656e736f722d7631ull};  // "moekit-tensor-v1"
const napi_type_tag TOKEN_TAG = {0x6d6f656b69742d63ull, 0x746f722d746f6b31ull};   // "moekit-ctor-tok1"

// Passes a TensorRef into the constructor; JS code cannot make one.
struct ConstructToken {
  TensorRef ref;
};

}  // namespace

void TensorHandle::define(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "NativeTensor",
                                    {
                                        InstanceMethod<&TensorHandle::dispose>("dispose"),
                                        InstanceAccessor<&TensorHandle::get_dtype>("dtype"),
                                        InstanceAccessor<&TensorHandle::get_shape>("shape"),
                                        InstanceAccessor<&TensorHandle::get_device>("device"),
                                        InstanceAccessor<&TensorHandle::get_disposed>("disposed"),
                                    });
  addon_data(env).tensor_constructor = Napi::Persistent(ctor);
  exports.Set("NativeTensor", ctor);
}

Napi::Object TensorHandle::wrap(Napi::Env env, TensorRef ref) {
  ConstructToken token{std::move(ref)};
  Napi::External<ConstructToken> external = Napi::External<ConstructToken>::New(env, &token);
  external.TypeTag(&TOKEN_TAG);
  Napi::Object obj = addon_data(env).tensor_constructor.New({external});
  obj.TypeTag(&TENSOR_TAG);
  return obj;
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {
  if (info.Length() != 1 || !info[0].IsExternal() || !info[0].As<Napi::External<ConstructToken>>().CheckTypeTag(&TOKEN_TAG)) {
    throw Napi::TypeError::New(info.Env(), "NativeTensor cannot be constructed directly; use a Device's tensor(), zeros() or empty()");
  }
  ref_ = std::move(info[0].As<Napi::External<ConstructToken>>().Data()->ref);
  live_ = true;
  device_id_ = ref_.device().id();
  ref_.device().tensor_created();
  // Host buffers count towards V8's view of memory, so forgotten tensors
  // still prompt garbage collection (GPU memory is the pool's business).
  if (ref_.device().kind() == DeviceKind::Cpu) {
    external_bytes_ = static_cast<int64_t>(ref_.nbytes());
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), external_bytes_);
  }
}

TensorHandle::~TensorHandle() { release(); }

void TensorHandle::release() {
  if (!live_) return;
  live_ = false;
  Device& device = ref_.device();
  ref_.storage.reset();
  device.tensor_released();
  if (external_bytes_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -external_bytes_);
  external_bytes_ = 0;
}

const TensorRef& TensorHandle::unwrap(Napi::Value value, const char* op, const char* arg) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&TENSOR_TAG)) {
    throw_type_error(op, arg, "a Tensor", describe_value(value));
  }
  TensorHandle* h = Unwrap(value.As<Napi::Object>());
  if (!h->live_) {
    throw Error(ErrorCode::Disposed, std::string(op) + ": " + arg + " was disposed; a tensor cannot be used after dispose()");
  }
  return h->ref_;
}

Napi::Value TensorHandle::dispose(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}

Napi::Value TensorHandle::get_dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtype_name(ref_.dtype));
}

Napi::Value TensorHandle::get_shape(const Napi::CallbackInfo& info) { return shape_to_js(info.Env(), ref_.shape); }

Napi::Value TensorHandle::get_device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), device_id_);
}

Napi::Value TensorHandle::get_disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !live_); }

}  // namespace moekit
