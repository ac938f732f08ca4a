// gemm and fp8Gemm bindings (native/ops/gemm/gemm.h, native/ops/gemm/fp8_gemm.h).
#include <napi.h>

#include "../../common/math.h"
#include "fp8_gemm.h"
#include "gemm.h"
#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../kernel_tables.h"
#include "../register.h"

namespace moekit {

namespace {

bool is_gemm_dtype(DType d) { return d == DType::F32 || d == DType::BF16 || d == DType::F16; }

std::string quoted(DType d) { return std::string("'") + dtype_name(d) + "'"; }

// gemm(a [M,K], b [N,K], outDtype, impl) -> c [M,N]
Napi::Value gemm(const Napi::CallbackInfo& info) {
  const char* op = "gemm";
  const TensorRef a = arg_tensor(info, 0, op, "a");
  const TensorRef b = arg_tensor(info, 1, op, "b");
  const DType out_dtype = arg_dtype(info, 2, op, "options.outDtype");
  const std::string impl = arg_string(info, 3, op, "options.impl");
  if (!is_gemm_dtype(a.dtype)) throw_type_error(op, "a.dtype", "'f32', 'bf16' or 'f16'", quoted(a.dtype));
  if (b.dtype != a.dtype) throw_type_error(op, "b.dtype", "the dtype of a (" + quoted(a.dtype) + ")", quoted(b.dtype));
  if (!is_gemm_dtype(out_dtype)) throw_type_error(op, "options.outDtype", "'f32', 'bf16' or 'f16'", quoted(out_dtype));
  expect_rank(a, 2, op, "a");
  expect_rank(b, 2, op, "b");
  if (a.dim(1) != b.dim(1)) {
    throw_range_error(op, "b.shape", "[N, " + std::to_string(a.dim(1)) + "] (K of a " + shape_string(a.shape) + ")", shape_string(b.shape));
  }
  expect_same_device(a, b, op, "a", "b");
  Device& device = a.device();
  TensorRef c = allocate_tensor(device, out_dtype, {a.dim(0), b.dim(0)}, op, "the output [M, N] (M of a, N of b)");
  const GemmParams p{a.data(), b.data(), c.data(), a.dim(0), b.dim(0), a.dim(1), a.dtype, out_dtype};
  const auto* version = choose_impl(gemm_versions(), impl, device, p, op);
  device.enqueue("gemm", {{a.storage, b.storage}, {c.storage}}, [p, version, a, b, c](ExecContext& ctx) {
    if (version) {
      version->launch(p, static_cast<cudaStream_t>(ctx.stream));
    } else {
      gemm_cpu(p);
    }
  });
  return TensorHandle::wrap(info.Env(), std::move(c));
}

void expect_shape(const TensorRef& t, const Shape& want, const char* op, const std::string& name, const std::string& why) {
  if (t.shape != want) throw_range_error(op, name + ".shape", shape_string(want) + " (" + why + ")", shape_string(t.shape));
}

// fp8Gemm(aValues [M,K], aScales [M,KB], bValues [N,K], bScales [NB,KB], outDtype, impl) -> c [M,N]
Napi::Value fp8_gemm(const Napi::CallbackInfo& info) {
  const char* op = "fp8Gemm";
  const TensorRef a = arg_tensor(info, 0, op, "a.values");
  const TensorRef sa = arg_tensor(info, 1, op, "a.scales");
  const TensorRef b = arg_tensor(info, 2, op, "b.values");
  const TensorRef sb = arg_tensor(info, 3, op, "b.scales");
  const DType out_dtype = arg_dtype(info, 4, op, "options.outDtype");
  const std::string impl = arg_string(info, 5, op, "options.impl");
  if (!dtype_is_fp8(a.dtype)) throw_type_error(op, "a.values.dtype", "'e4m3' or 'e5m2'", quoted(a.dtype));
  if (!dtype_is_fp8(b.dtype)) throw_type_error(op, "b.values.dtype", "'e4m3' or 'e5m2'", quoted(b.dtype));
  expect_dtype(sa, DType::F32, op, "a.scales");
  expect_dtype(sb, DType::F32, op, "b.scales");
  if (out_dtype != DType::BF16 && out_dtype != DType::F32) throw_type_error(op, "options.outDtype", "'bf16' or 'f32'", quoted(out_dtype));
  expect_rank(a, 2, op, "a.values");
  expect_rank(b, 2, op, "b.values");
  const int64_t m = a.dim(0), k = a.dim(1), n = b.dim(0);
  if (b.dim(1) != k) throw_range_error(op, "b.values.shape", "[N, " + std::to_string(k) + "] (K of a)", shape_string(b.shape));
  const int64_t kb = ceil_div<int64_t>(k, FP8_SCALE_BLOCK);
  expect_shape(sa, {m, kb}, op, "a.scales", "1x128 blocks of a");
  expect_shape(sb, {ceil_div<int64_t>(n, FP8_SCALE_BLOCK), kb}, op, "b.scales", "128x128 blocks of b");
  expect_same_device(a, sa, op, "a.values", "a.scales");
  expect_same_device(a, b, op, "a.values", "b.values");
  expect_same_device(a, sb, op, "a.values", "b.scales");
  Device& device = a.device();
  TensorRef c = allocate_tensor(device, out_dtype, {m, n}, op, "the output [M, N] (M of a, N of b)");
  Fp8GemmParams p{a.data_as<uint8_t>(), sa.data_as<float>(), b.data_as<uint8_t>(), sb.data_as<float>(), c.data(), m, n, k, kb,
                  a.dtype, b.dtype, out_dtype, device.info().sm_count};
  const auto* version = choose_impl(fp8_gemm_versions(), impl, device, p, op);
  device.enqueue("fp8Gemm", {{a.storage, sa.storage, b.storage, sb.storage}, {c.storage}}, [p, version, a, sa, b, sb, c](ExecContext& ctx) {
    if (version) {
      version->launch(p, static_cast<cudaStream_t>(ctx.stream));
    } else {
      fp8_gemm_cpu(p);
    }
  });
  return TensorHandle::wrap(info.Env(), std::move(c));
}

// kernelVersions() -> { op: [{ name, idea, minSm, maxSm, verifiedOn }] }
template <typename P>
Napi::Array versions_to_js(Napi::Env env, const std::vector<KernelVersion<P>>& versions) {
  Napi::Array a = Napi::Array::New(env, versions.size());
  for (size_t i = 0; i < versions.size(); ++i) {
    const auto& v = versions[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", v.name);
    o.Set("idea", v.idea);
    o.Set("minSm", v.min_sm);
    o.Set("maxSm", v.max_sm);
    o.Set("verifiedOn", v.verified_on);
    a.Set(static_cast<uint32_t>(i), o);
  }
  return a;
}

Napi::Value kernel_versions(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("gemm", versions_to_js(info.Env(), gemm_versions()));
  o.Set("fp8Gemm", versions_to_js(info.Env(), fp8_gemm_versions()));
  o.Set("quantize", versions_to_js(info.Env(), quantize_versions()));
  return o;
}

}  // namespace

void register_gemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New<guarded<gemm>>(env, "gemm"));
  exports.Set("fp8Gemm", Napi::Function::New<guarded<fp8_gemm>>(env, "fp8Gemm"));
  exports.Set("kernelVersions", Napi::Function::New<guarded<kernel_versions>>(env, "kernelVersions"));
}

}  // namespace moekit
