// moe.route: binding and CUDA version table (interface: route.h).
#include <napi.h>

#include <cmath>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"
#include "route.h"

namespace moekit {

// The CUDA versions, v1 first. `verified_on` lists the architectures where
// a version passed the CUDA tests on a real GPU; change it only after such
// a run. A version never run on a GPU has "" and is reachable only by name.
// `emulated_on` lists the emulation profiles on which its CUDA tests passed
// (npm run emulate, which says when a passing profile is missing from it);
// it never makes a version eligible for auto.
const std::vector<KernelVersion<RouteParams>>& route_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<RouteParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "warp per token: scores, group scores, masking and top-K by warp arg-max in one kernel", 80, 0, "", "", "sm80,sm89,sm90a",
       always_supported<RouteParams>, route_v1},
#endif
  };
  return versions;
}

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// route(logits [T,E], topK, scoring, bias [E] | null, groups, topGroups, normalize, scale, impl) -> [ids, weights, counts]
Napi::Value route(const Napi::CallbackInfo& info) {
  const char* op = "moe.route";
  const TensorRef logits = arg_tensor(info, 0, op, "logits");
  const int64_t top_k = arg_int(info, 1, op, "options.topK", 1, MAX_ROUTE_TOP_K);
  const std::string scoring = arg_string(info, 2, op, "options.scoring");
  const bool has_bias = !info[3].IsNull() && !info[3].IsUndefined();
  const int64_t groups = arg_int(info, 4, op, "options.groups", 1, MAX_ROUTE_EXPERTS);
  const int64_t top_groups = arg_int(info, 5, op, "options.topGroups", 1, MAX_ROUTE_EXPERTS);
  const bool normalize = arg_bool(info, 6, op, "options.normalize");
  const double scale = arg_number(info, 7, op, "options.scale");
  const std::string impl = arg_string(info, 8, op, "options.impl");

  if (scoring != "sigmoid" && scoring != "softmax") throw_type_error(op, "options.scoring", "'sigmoid' or 'softmax'", "'" + scoring + "'");
  if (!std::isfinite(scale)) throw_range_error(op, "options.scale", "a finite number", number_text(scale));
  expect_dtype(logits, DType::F32, op, "logits");
  expect_rank(logits, 2, op, "logits");
  const int64_t T = logits.dim(0);
  const int64_t E = logits.dim(1);
  if (E < 1 || E > MAX_ROUTE_EXPERTS) {
    throw_range_error(op, "logits.shape", "[T, E] with E (experts) in [1, " + str(MAX_ROUTE_EXPERTS) + "]", shape_string(logits.shape));
  }
  if (top_k > E) {
    throw_range_error(op, "options.topK", "an integer in [1, " + str(MAX_ROUTE_TOP_K) + "] and at most E (" + str(E) + " experts)", str(top_k));
  }
  if (E % groups != 0) throw_range_error(op, "options.groups", "a divisor of E (" + str(E) + " experts)", str(groups));
  if (top_groups > groups) throw_range_error(op, "options.topGroups", "an integer in [1, groups] ([1, " + str(groups) + "])", str(top_groups));
  const int64_t kept = top_groups * (E / groups);
  if (top_k > kept) {
    throw_range_error(op, "options.topK",
                      "at most the experts of the kept groups (topGroups " + str(top_groups) + " x " + str(E / groups) + " experts per group = " +
                          str(kept) + ")",
                      str(top_k));
  }
  TensorRef bias;
  if (has_bias) {
    bias = arg_tensor(info, 3, op, "options.bias");
    expect_dtype(bias, DType::F32, op, "options.bias");
    expect_same_device(logits, bias, op, "logits", "options.bias");
    expect_shape(bias, {E}, op, "options.bias", "one per expert of logits " + shape_string(logits.shape));
  }

  Device& device = logits.device();
  TensorRef ids = allocate_tensor(device, DType::I32, {T, top_k}, op, "the ids [T, topK]");
  TensorRef weights = allocate_tensor(device, DType::F32, {T, top_k}, op, "the weights [T, topK]");
  TensorRef counts = allocate_tensor(device, DType::I32, {E}, op, "the counts [E]");
  const RouteParams p{logits.data_as<float>(),
                      has_bias ? bias.data_as<float>() : nullptr,
                      ids.data_as<int32_t>(),
                      weights.data_as<float>(),
                      counts.data_as<int32_t>(),
                      T,
                      static_cast<int>(E),
                      static_cast<int>(top_k),
                      static_cast<int>(groups),
                      static_cast<int>(top_groups),
                      scoring == "sigmoid" ? RouteScoring::SIGMOID : RouteScoring::SOFTMAX,
                      normalize,
                      scale};
  std::vector<StoragePtr> inputs{logits.storage};
  if (has_bias) inputs.push_back(bias.storage);
  enqueue_op(device, op, {inputs, {ids.storage, weights.storage, counts.storage}}, route_versions(), impl, route_cpu, p);
  Napi::Array out = Napi::Array::New(info.Env(), 3);
  out.Set(0u, TensorHandle::wrap(info.Env(), std::move(ids)));
  out.Set(1u, TensorHandle::wrap(info.Env(), std::move(weights)));
  out.Set(2u, TensorHandle::wrap(info.Env(), std::move(counts)));
  return out;
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("moeRoute", Napi::Function::New<guarded<route>>(env, "moeRoute")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("moe.route", moekit::route_versions)
