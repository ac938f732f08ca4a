// gemm: binding and CUDA version table (interface: gemm.h).
#include <napi.h>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"
#include "gemm.h"

namespace moekit {

// The CUDA versions, v1 first. `verified_on` lists the architectures where
// a version passed the CUDA tests on a real GPU; change it only after such
// a run. A version never run on a GPU has "" and is reachable only by name.
// `emulated_on` lists the emulation profiles on which its CUDA tests passed
// (npm run emulate, which says when a passing profile is missing from it);
// it never makes a version eligible for auto.
const std::vector<KernelVersion<GemmParams>>& gemm_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<GemmParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "tiled SIMT FMA, any dtype", 80, 0, "", "", "sm80,sm89,sm90a", gemm_v1_unsupported, gemm_v1},
      {"v2", "mma.sync bf16/f16 tensor cores, ldmatrix from swizzled shared memory, 4-stage cp.async pipeline", 80, 0, "", "", "sm80,sm89,sm90a",
       gemm_v2_unsupported, gemm_v2},
#endif
  };
  return versions;
}

namespace {

bool is_gemm_dtype(DType d) { return d == DType::F32 || d == DType::BF16 || d == DType::F16; }

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
  const GemmParams p{a.data(), b.data(), c.data(), a.dim(0), b.dim(0), a.dim(1), a.dtype, out_dtype, ExpertGroups{}, nullptr, false};
  enqueue_op(device, op, {{a.storage, b.storage}, {c.storage}}, gemm_versions(), impl, gemm_cpu, p);
  return TensorHandle::wrap(info.Env(), std::move(c));
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("gemm", Napi::Function::New<guarded<gemm>>(env, "gemm")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("gemm", moekit::gemm_versions)
