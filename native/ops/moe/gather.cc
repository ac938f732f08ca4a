// moe.gather: binding and CUDA version table (interface: gather.h).
#include <napi.h>

#include <cstdint>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../common/fp8_block.h"
#include "../../common/math.h"
#include "../../core/size_math.h"
#include "../dispatch.h"
#include "../registry.h"
#include "gather.h"

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

std::string quoted_name(DType d) { return std::string("'") + dtype_name(d) + "'"; }

// gather(x [T,H], rowIds [P], topK, quantize '' | 'e4m3' | 'e5m2', ue8m0, impl) -> [out] or [values, scales]
Napi::Value gather(const Napi::CallbackInfo& info) {
  const char* op = "moe.gather";
  const TensorRef x = arg_tensor(info, 0, op, "x");
  const TensorRef row_ids = arg_tensor(info, 1, op, "rowIds");
  const int64_t top_k = arg_int(info, 2, op, "topK", 1, INT32_MAX);
  const std::string quantize = arg_string(info, 3, op, "options.quantize");
  const bool ue8m0 = arg_bool(info, 4, op, "options.scaleFormat");
  const std::string impl = arg_string(info, 5, op, "options.impl");
  if (x.dtype != DType::F32 && x.dtype != DType::BF16 && x.dtype != DType::F16) {
    throw_type_error(op, "x.dtype", "'f32', 'bf16' or 'f16'", quoted_name(x.dtype));
  }
  DType format = DType::E4M3;
  if (!quantize.empty()) {
    format = parse_dtype(quantize, op, "options.quantize");
    if (!dtype_is_fp8(format)) throw_type_error(op, "options.quantize", "'e4m3' or 'e5m2'", "'" + quantize + "'");
  } else if (ue8m0) {
    throw_type_error(op, "options.scaleFormat", "absent without options.quantize", "'ue8m0'");
  }
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
  const char* target = quantize.empty() ? "the output [P, H]" : "the values [P, H]";
  TensorRef out = allocate_tensor(device, quantize.empty() ? x.dtype : format, {P, H}, op, target);
  TensorRef scales;
  if (!quantize.empty()) scales = allocate_tensor(device, DType::F32, {P, ceil_div<int64_t>(H, FP8_SCALE_BLOCK)}, op, "the scales [P, ceil(H / 128)]");
  GatherParams p{};
  p.x = x.data();
  p.row_ids = row_ids.data_as<int32_t>();
  p.out = quantize.empty() ? out.data() : nullptr;
  p.values = quantize.empty() ? nullptr : out.data_as<uint8_t>();
  p.scales = quantize.empty() ? nullptr : scales.data_as<float>();
  p.x_dtype = x.dtype;
  p.quantize = !quantize.empty();
  p.format = format;
  p.ue8m0 = ue8m0;
  p.tokens = T;
  p.hidden = H;
  p.rows = P;
  p.top_k = top_k;
  std::vector<StoragePtr> written{out.storage};
  if (scales.storage) written.push_back(scales.storage);
  enqueue_op(device, op, {{x.storage, row_ids.storage}, written}, gather_versions(), impl, gather_cpu, p);
  Napi::Array result = Napi::Array::New(info.Env(), scales.storage ? 2 : 1);
  result.Set(0u, TensorHandle::wrap(info.Env(), std::move(out)));
  if (scales.storage) result.Set(1u, TensorHandle::wrap(info.Env(), std::move(scales)));
  return result;
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("moeGather", Napi::Function::New<guarded<gather>>(env, "moeGather")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("moe.gather", moekit::gather_versions)
