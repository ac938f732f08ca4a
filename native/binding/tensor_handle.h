// The JS object behind a lib/ Tensor: owns one TensorRef until disposed or
// collected. Type-tagged, so a forged object is rejected rather than read.
#pragma once

#include <napi.h>

#include "../core/tensor.h"

namespace moekit {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static void define(Napi::Env env, Napi::Object exports);

  // A new JS handle owning `ref`.
  static Napi::Object wrap(Napi::Env env, TensorRef ref);

  // The tensor behind `value`; throws a TypeError naming `op` and `arg` when
  // it is not a tensor handle, and a disposed error when it was disposed.
  static const TensorRef& unwrap(Napi::Value value, const char* op, const char* arg);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

 private:
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value get_dtype(const Napi::CallbackInfo& info);
  Napi::Value get_shape(const Napi::CallbackInfo& info);
  Napi::Value get_device(const Napi::CallbackInfo& info);
  Napi::Value get_disposed(const Napi::CallbackInfo& info);
  void release();

  TensorRef ref_;
  std::string device_id_;
  int64_t external_bytes_ = 0;
  bool live_ = false;
};

}  // namespace moekit
