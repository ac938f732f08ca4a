// moe.updateBias: binding and CUDA version table (interface: update_bias.h).
#include <napi.h>

#include <cmath>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"
#include "update_bias.h"

namespace moekit {

// The CUDA versions, v1 first; `verified_on` and `emulated_on` as in every
// table (see native/ops/moe/route.cc).
const std::vector<KernelVersion<UpdateBiasParams>>& update_bias_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<UpdateBiasParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "one block: int64 sum of the counts, then every bias", 80, 0, "", "", "sm80,sm89,sm90a", always_supported<UpdateBiasParams>, update_bias_v1},
#endif
  };
  return versions;
}

namespace {

// updateBias(bias [E], counts [E], rate, impl) -> bias' [E]
Napi::Value update_bias(const Napi::CallbackInfo& info) {
  const char* op = "moe.updateBias";
  const TensorRef bias = arg_tensor(info, 0, op, "bias");
  const TensorRef counts = arg_tensor(info, 1, op, "counts");
  const double rate = arg_number(info, 2, op, "options.rate");
  const std::string impl = arg_string(info, 3, op, "options.impl");
  if (!std::isfinite(rate)) throw_range_error(op, "options.rate", "a finite number", number_text(rate));
  expect_dtype(bias, DType::F32, op, "bias");
  expect_dtype(counts, DType::I32, op, "counts");
  expect_rank(bias, 1, op, "bias");
  expect_same_device(bias, counts, op, "bias", "counts");
  const int64_t E = bias.dim(0);
  if (E > MAX_UPDATE_BIAS_EXPERTS) {
    throw_range_error(op, "bias.shape", "[E] with E at most " + std::to_string(MAX_UPDATE_BIAS_EXPERTS), shape_string(bias.shape));
  }
  expect_shape(counts, {E}, op, "counts", "one per expert of bias " + shape_string(bias.shape));
  Device& device = bias.device();
  TensorRef out = allocate_tensor(device, DType::F32, {E}, op, "the new bias [E]");
  const UpdateBiasParams p{bias.data_as<float>(), counts.data_as<int32_t>(), out.data_as<float>(), E, static_cast<float>(rate)};
  enqueue_op(device, op, {{bias.storage, counts.storage}, {out.storage}}, update_bias_versions(), impl, update_bias_cpu, p);
  return TensorHandle::wrap(info.Env(), std::move(out));
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("moeUpdateBias", Napi::Function::New<guarded<update_bias>>(env, "moeUpdateBias"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("moe.updateBias", moekit::update_bias_versions)
