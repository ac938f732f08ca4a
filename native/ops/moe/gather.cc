// moe.gather: binding and CUDA version table (interface: gather.h).
#include <napi.h>

#include <cstdint>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../core/size_math.h"
#include "../dispatch.h"
#include "../registry.h"
#include "gather.h"
#include "row_output.h"

namespace moekit {

// The CUDA versions, v1 first; `verified_on` and `emulated_on` as in every
// table (see native/ops/moe/route.cc).
const std::vector<KernelVersion<GatherParams>>& gather_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<GatherParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "a warp per row: coalesced raw copy, or quantize v1's 1x128 warp blocks", 80, 0, "", "", "sm80,sm89,sm90a",
       always_supported<GatherParams>, gather_v1},
#endif
  };
  return versions;
}

namespace {

// gather(x [T,H], rowIds [P], topK, quantize '' | 'e4m3' | 'e5m2', ue8m0, impl) -> [out] or [values, scales]
Napi::Value gather(const Napi::CallbackInfo& info) {
  const char* op = "moe.gather";
  const TensorRef x = arg_tensor(info, 0, op, "x");
  const TensorRef row_ids = arg_tensor(info, 1, op, "rowIds");
  const int64_t top_k = arg_int(info, 2, op, "topK", 1, INT32_MAX);
  const std::string quantize = arg_string(info, 3, op, "options.quantize");
  const bool ue8m0 = arg_bool(info, 4, op, "options.scaleFormat");
  const std::string impl = arg_string(info, 5, op, "options.impl");
  expect_float_dtype(x.dtype, op, "x.dtype");
  RowOutput output = row_output_options(quantize, ue8m0, op);
  expect_rank(x, 2, op, "x");
  expect_dtype(row_ids, DType::I32, op, "rowIds");
  expect_rank(row_ids, 1, op, "rowIds");
  expect_same_device(x, row_ids, op, "x", "rowIds");
  const int64_t T = x.dim(0);
  const int64_t H = x.dim(1);
  const int64_t P = row_ids.dim(0);
  int64_t picks = 0;
  if (!checked_mul(T, top_k, &picks)) {
    throw_range_error(op, "topK", "an integer with T * topK within int64 (T = " + std::to_string(T) + ")", std::to_string(top_k));
  }
  Device& device = x.device();
  output.allocate(device, x.dtype, P, H, "H", op);
  GatherParams p{};
  p.x = x.data();
  p.row_ids = row_ids.data_as<int32_t>();
  p.out = output.quantize ? nullptr : output.out.data();
  p.values = output.quantize ? output.out.data_as<uint8_t>() : nullptr;
  p.scales = output.quantize ? output.scales.data_as<float>() : nullptr;
  p.x_dtype = x.dtype;
  p.quantize = output.quantize;
  p.format = output.format;
  p.ue8m0 = ue8m0;
  p.tokens = T;
  p.hidden = H;
  p.rows = P;
  p.top_k = top_k;
  enqueue_op(device, op, {{x.storage, row_ids.storage}, output.written()}, gather_versions(), impl, gather_cpu, p);
  return std::move(output).to_js(info.Env());
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("moeGather", Napi::Function::New<guarded<gather>>(env, "moeGather")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("moe.gather", moekit::gather_versions)
