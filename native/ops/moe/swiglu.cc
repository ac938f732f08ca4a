// moe.swiglu: binding and CUDA version table (interface: swiglu.h).
#include <napi.h>

#include <cstdint>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"
#include "row_output.h"
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

// swiglu(h [P,2I], outDtype, quantize '' | 'e4m3' | 'e5m2', ue8m0, impl) -> [out] or [values, scales]
Napi::Value swiglu(const Napi::CallbackInfo& info) {
  const char* op = "moe.swiglu";
  const TensorRef h = arg_tensor(info, 0, op, "h");
  const DType out_dtype = arg_dtype(info, 1, op, "options.outDtype");
  const std::string quantize = arg_string(info, 2, op, "options.quantize");
  const bool ue8m0 = arg_bool(info, 3, op, "options.scaleFormat");
  const std::string impl = arg_string(info, 4, op, "options.impl");
  expect_float_dtype(h.dtype, op, "h.dtype");
  expect_float_dtype(out_dtype, op, "options.outDtype");
  RowOutput output = row_output_options(quantize, ue8m0, op);
  expect_rank(h, 2, op, "h");
  const int64_t P = h.dim(0);
  const int64_t two_i = h.dim(1);
  if (two_i % 2 != 0) throw_range_error(op, "h.shape", "[P, 2I] with an even last dimension (gate and up halves)", shape_string(h.shape));
  const int64_t I = two_i / 2;
  Device& device = h.device();
  output.allocate(device, out_dtype, P, I, "I", op);
  SwigluParams p{};
  p.h = h.data();
  p.out = output.quantize ? nullptr : output.out.data();
  p.values = output.quantize ? output.out.data_as<uint8_t>() : nullptr;
  p.scales = output.quantize ? output.scales.data_as<float>() : nullptr;
  p.h_dtype = h.dtype;
  p.out_dtype = out_dtype;
  p.quantize = output.quantize;
  p.format = output.format;
  p.ue8m0 = ue8m0;
  p.rows = P;
  p.inter = I;
  enqueue_op(device, op, {{h.storage}, output.written()}, swiglu_versions(), impl, swiglu_cpu, p);
  return std::move(output).to_js(info.Env());
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("moeSwiglu", Napi::Function::New<guarded<swiglu>>(env, "moeSwiglu")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("moe.swiglu", moekit::swiglu_versions)
