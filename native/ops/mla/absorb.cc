// mla.absorbQuery and mla.projectOutput: bindings and CUDA version table
// (interface: absorb.h). One kernel serves both ops; each op has its table.
#include <napi.h>

#include <cstdint>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"
#include "absorb.h"

namespace moekit {

// The CUDA versions, v1 first; `verified_on` and `emulated_on` as in every
// table (see native/ops/moe/route.cc).
const std::vector<KernelVersion<AbsorbParams>>& absorb_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<AbsorbParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "per-head mma.sync GEMM on a 64x64 tile, W_UK transposed into shared memory", 80, 0, "", "", "sm80,sm89,sm90a",
       absorb_v1_unsupported, absorb_v1},
#endif
  };
  return versions;
}

namespace {

// x [T, H, K] bf16 and wkvB [H * 256, 512] bf16 on one device -> out [T, H, N] bf16.
Napi::Value absorb(const Napi::CallbackInfo& info, bool project) {
  const char* op = project ? "mla.projectOutput" : "mla.absorbQuery";
  const char* x_name = project ? "o" : "qNope";
  const int64_t K = project ? MLA_LATENT : MLA_NOPE;
  const int64_t N = project ? MLA_V : MLA_LATENT;
  const TensorRef x = arg_tensor(info, 0, op, x_name);
  const TensorRef w = arg_tensor(info, 1, op, "wkvB");
  const std::string impl = arg_string(info, 2, op, "options.impl");
  expect_dtype(x, DType::BF16, op, x_name);
  expect_dtype(w, DType::BF16, op, "wkvB");
  expect_rank(x, 3, op, x_name);
  expect_same_device(x, w, op, x_name, "wkvB");
  const int64_t T = x.dim(0);
  const int64_t H = x.dim(1);
  if (x.dim(2) != K) {
    throw_range_error(op, std::string(x_name) + ".shape", "[T, H, " + std::to_string(K) + "]", shape_string(x.shape));
  }
  expect_shape(w, {H * MLA_WKV_B_ROWS, MLA_LATENT}, op, "wkvB", "[H * 256, 512] for H = " + std::to_string(H) + " heads of " + x_name);
  Device& device = x.device();
  TensorRef out = allocate_tensor(device, DType::BF16, {T, H, N}, op, project ? "the output [T, H, 128]" : "the output [T, H, 512]");
  AbsorbParams p{};
  p.project = project;
  p.x = x.data_as<uint16_t>();
  p.wkv_b = w.data_as<uint16_t>();
  p.out = out.data_as<uint16_t>();
  p.tokens = T;
  p.heads = H;
  enqueue_op(device, op, {{x.storage, w.storage}, {out.storage}}, absorb_versions(), impl, absorb_cpu, p);
  return TensorHandle::wrap(info.Env(), std::move(out));
}

Napi::Value absorb_query(const Napi::CallbackInfo& info) { return absorb(info, false); }
Napi::Value project_output(const Napi::CallbackInfo& info) { return absorb(info, true); }

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("mlaAbsorbQuery", Napi::Function::New<guarded<absorb_query>>(env, "mlaAbsorbQuery"));
  exports.Set("mlaProjectOutput", Napi::Function::New<guarded<project_output>>(env, "mlaProjectOutput"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("mla.absorbQuery", moekit::absorb_versions)
MOEKIT_REGISTER_VERSIONS("mla.projectOutput", moekit::absorb_versions)
