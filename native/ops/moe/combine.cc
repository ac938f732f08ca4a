// moe.combine: binding and CUDA version table (interface: combine.h).
#include <napi.h>

#include <cstdint>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"
#include "combine.h"

namespace moekit {

// The CUDA versions, v1 first; `verified_on` and `emulated_on` as in every
// table (see native/ops/moe/route.cc).
const std::vector<KernelVersion<CombineParams>>& combine_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<CombineParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "a warp per token: the K picks in order, one fmaf each, no atomics", 80, 0, "", "", "sm80,sm89,sm90a",
       always_supported<CombineParams>, combine_v1},
#endif
  };
  return versions;
}

namespace {

bool given(const Napi::Value& v) { return !v.IsNull() && !v.IsUndefined(); }

// combine(y [P,H], inverse [T,K], weights [T,K] f32 | null, shared [T,H] | null, outDtype, impl) -> out [T,H]
Napi::Value combine(const Napi::CallbackInfo& info) {
  const char* op = "moe.combine";
  const TensorRef y = arg_tensor(info, 0, op, "y");
  const TensorRef inverse = arg_tensor(info, 1, op, "inverse");
  const bool has_weights = given(info[2]);
  const bool has_shared = given(info[3]);
  TensorRef weights;
  TensorRef shared;
  if (has_weights) weights = arg_tensor(info, 2, op, "options.weights");
  if (has_shared) shared = arg_tensor(info, 3, op, "options.shared");
  const DType out_dtype = arg_dtype(info, 4, op, "options.outDtype");
  const std::string impl = arg_string(info, 5, op, "options.impl");
  expect_float_dtype(y.dtype, op, "y.dtype");
  expect_float_dtype(out_dtype, op, "options.outDtype");
  expect_rank(y, 2, op, "y");
  expect_dtype(inverse, DType::I32, op, "inverse");
  expect_rank(inverse, 2, op, "inverse");
  expect_same_device(y, inverse, op, "y", "inverse");
  const int64_t P = y.dim(0);
  const int64_t H = y.dim(1);
  const int64_t T = inverse.dim(0);
  const int64_t K = inverse.dim(1);
  if (has_weights) {
    expect_dtype(weights, DType::F32, op, "options.weights");
    expect_same_device(y, weights, op, "y", "options.weights");
    expect_shape(weights, {T, K}, op, "options.weights", "one per pick of inverse " + shape_string(inverse.shape));
  }
  if (has_shared) {
    expect_float_dtype(shared.dtype, op, "options.shared.dtype");
    expect_same_device(y, shared, op, "y", "options.shared");
    expect_shape(shared, {T, H}, op, "options.shared", "[T, H]: T of inverse " + shape_string(inverse.shape) + ", H of y " + shape_string(y.shape));
  }
  Device& device = y.device();
  TensorRef out = allocate_tensor(device, out_dtype, {T, H}, op, "the output [T, H]");
  CombineParams p{};
  p.y = y.data();
  p.inverse = inverse.data_as<int32_t>();
  p.weights = has_weights ? weights.data_as<float>() : nullptr;
  p.shared = has_shared ? shared.data() : nullptr;
  p.out = out.data();
  p.y_dtype = y.dtype;
  p.shared_dtype = has_shared ? shared.dtype : DType::F32;
  p.out_dtype = out_dtype;
  p.rows = P;
  p.tokens = T;
  p.top_k = K;
  p.hidden = H;
  std::vector<StoragePtr> inputs{y.storage, inverse.storage};
  if (has_weights) inputs.push_back(weights.storage);
  if (has_shared) inputs.push_back(shared.storage);
  enqueue_op(device, op, {inputs, {out.storage}}, combine_versions(), impl, combine_cpu, p);
  return TensorHandle::wrap(info.Env(), std::move(out));
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("moeCombine", Napi::Function::New<guarded<combine>>(env, "moeCombine")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("moe.combine", moekit::combine_versions)
