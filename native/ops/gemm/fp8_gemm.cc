// fp8Gemm: binding and CUDA version table (interface: fp8_gemm.h).
#include <napi.h>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../common/math.h"
#include "../dispatch.h"
#include "../registry.h"
#include "fp8_gemm.h"

namespace moekit {

// The CUDA versions, v1 first (see gemm.cc for `verified_on`). v3 needs
// sm_90a machine code: a build without it would run a trap stub.
const std::vector<KernelVersion<Fp8GemmParams>>& fp8_gemm_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<Fp8GemmParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "tiled SIMT, FP8 decoded in shared memory, promotion every 128", 80, 0, "", "", "sm80,sm89,sm90a", fp8_gemm_v1_unsupported, fp8_gemm_v1},
      {"v2", "mma.sync FP8 m16n8k32 (sm_89+; bf16 m16n8k16 on sm_80), 3-stage cp.async pipeline, promotion every 128", 80, 0, "", "", "sm80,sm89,sm90a",
       fp8_gemm_v2_unsupported, fp8_gemm_v2},
      {"v3", "sm_90a: TMA + wgmma, warp-specialized, persistent, promotion every 128", 90, 90, "90a", "", "sm90a", fp8_gemm_v3_unsupported,
       fp8_gemm_v3},
#endif
  };
  return versions;
}

namespace {

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
  const Fp8GemmParams p{a.data_as<uint8_t>(), sa.data_as<float>(), b.data_as<uint8_t>(), sb.data_as<float>(), c.data(), m, n, k, kb,
                        a.dtype, b.dtype, out_dtype, device.info().sm_count, ExpertGroups{}, nullptr, false};
  enqueue_op(device, op, {{a.storage, sa.storage, b.storage, sb.storage}, {c.storage}}, fp8_gemm_versions(), impl, fp8_gemm_cpu, p);
  return TensorHandle::wrap(info.Env(), std::move(c));
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("fp8Gemm", Napi::Function::New<guarded<fp8_gemm>>(env, "fp8Gemm")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("fp8Gemm", moekit::fp8_gemm_versions)
