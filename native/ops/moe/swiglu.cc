// moe.swiglu: binding and CUDA version table (interface: swiglu.h).
#include <napi.h>

#include <cstdint>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../common/fp8_block.h"
#include "../../common/math.h"
#include "../dispatch.h"
#include "../registry.h"
#include "swiglu.h"

namespace moekit {

// The CUDA versions, v1 first; `verified_on` and `emulated_on` as in every
// table (see native/ops/moe/route.cc).
const std::vector<KernelVersion<SwigluParams>>& swiglu_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<SwigluParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "a warp per row, f32 silu(gate) * up with expf; quantize v1's 1x128 warp blocks", 80, 0, "", "", "sm80,sm89,sm90a",
       always_supported<SwigluParams>, swiglu_v1},
#endif
  };
  return versions;
}

namespace {

bool is_activation_dtype(DType d) { return d == DType::F32 || d == DType::BF16 || d == DType::F16; }

std::string quoted_name(DType d) { return std::string("'") + dtype_name(d) + "'"; }

// swiglu(h [P,2I], outDtype, quantize '' | 'e4m3' | 'e5m2', ue8m0, impl) -> [out] or [values, scales]
Napi::Value swiglu(const Napi::CallbackInfo& info) {
  const char* op = "moe.swiglu";
  const TensorRef h = arg_tensor(info, 0, op, "h");
  const DType out_dtype = arg_dtype(info, 1, op, "options.outDtype");
  const std::string quantize = arg_string(info, 2, op, "options.quantize");
  const bool ue8m0 = arg_bool(info, 3, op, "options.scaleFormat");
  const std::string impl = arg_string(info, 4, op, "options.impl");
  if (!is_activation_dtype(h.dtype)) throw_type_error(op, "h.dtype", "'f32', 'bf16' or 'f16'", quoted_name(h.dtype));
  if (!is_activation_dtype(out_dtype)) throw_type_error(op, "options.outDtype", "'f32', 'bf16' or 'f16'", quoted_name(out_dtype));
  DType format = DType::E4M3;
  if (!quantize.empty()) {
    format = parse_dtype(quantize, op, "options.quantize");
    if (!dtype_is_fp8(format)) throw_type_error(op, "options.quantize", "'e4m3' or 'e5m2'", "'" + quantize + "'");
  } else if (ue8m0) {
    throw_type_error(op, "options.scaleFormat", "absent without options.quantize", "'ue8m0'");
  }
  expect_rank(h, 2, op, "h");
  const int64_t P = h.dim(0);
  const int64_t two_i = h.dim(1);
  if (two_i % 2 != 0) throw_range_error(op, "h.shape", "[P, 2I] with an even last dimension (gate and up halves)", shape_string(h.shape));
  const int64_t I = two_i / 2;
  Device& device = h.device();
  TensorRef out = allocate_tensor(device, quantize.empty() ? out_dtype : format, {P, I}, op, quantize.empty() ? "the output [P, I]" : "the values [P, I]");
  TensorRef scales;
  if (!quantize.empty()) scales = allocate_tensor(device, DType::F32, {P, ceil_div<int64_t>(I, FP8_SCALE_BLOCK)}, op, "the scales [P, ceil(I / 128)]");
  SwigluParams p{};
  p.h = h.data();
  p.out = quantize.empty() ? out.data() : nullptr;
  p.values = quantize.empty() ? nullptr : out.data_as<uint8_t>();
  p.scales = quantize.empty() ? nullptr : scales.data_as<float>();
  p.h_dtype = h.dtype;
  p.out_dtype = out_dtype;
  p.quantize = !quantize.empty();
  p.format = format;
  p.ue8m0 = ue8m0;
  p.rows = P;
  p.inter = I;
  std::vector<StoragePtr> written{out.storage};
  if (scales.storage) written.push_back(scales.storage);
  enqueue_op(device, op, {{h.storage}, written}, swiglu_versions(), impl, swiglu_cpu, p);
  Napi::Array result = Napi::Array::New(info.Env(), scales.storage ? 2 : 1);
  result.Set(0u, TensorHandle::wrap(info.Env(), std::move(out)));
  if (scales.storage) result.Set(1u, TensorHandle::wrap(info.Env(), std::move(scales)));
  return result;
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("moeSwiglu", Napi::Function::New<guarded<swiglu>>(env, "moeSwiglu")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("moe.swiglu", moekit::swiglu_versions)
