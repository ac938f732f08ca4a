// mla.prefill: binding and CUDA version table (interface: prefill.h).
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"
#include "prefill.h"

namespace moekit {

// The CUDA versions, v1 first; `verified_on` and `emulated_on` as in every
// table (see native/ops/moe/route.cc).
const std::vector<KernelVersion<PrefillParams>>& prefill_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<PrefillParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "flash attention with mma.sync, K/V tiles decompressed from the latent in shared memory", 80, 0, "", "", "sm80,sm89,sm90a",
       prefill_v1_unsupported, prefill_v1},
#endif
  };
  return versions;
}

namespace {

void expect_bf16(const TensorRef& t, const char* op, const char* name) { expect_dtype(t, DType::BF16, op, name); }

// prefill(q [T,H,192], latent [T,512], kRope [T,64], wkvB [H*256,512], cuSeqLens i32 [B+1],
//         softmaxScale, causal, impl) -> [out [T,H,128] bf16, lse [H,T] f32]
Napi::Value prefill(const Napi::CallbackInfo& info) {
  const char* op = "mla.prefill";
  const TensorRef q = arg_tensor(info, 0, op, "q");
  const TensorRef latent = arg_tensor(info, 1, op, "latent");
  const TensorRef k_rope = arg_tensor(info, 2, op, "kRope");
  const TensorRef w = arg_tensor(info, 3, op, "wkvB");
  const TensorRef cu = arg_tensor(info, 4, op, "cuSeqLens");
  const double scale = arg_number(info, 5, op, "softmaxScale");
  const bool causal = arg_bool(info, 6, op, "causal");
  const std::string impl = arg_string(info, 7, op, "impl");
  if (!std::isfinite(scale)) throw_range_error(op, "softmaxScale", "a finite number", std::to_string(scale));
  expect_bf16(q, op, "q");
  expect_bf16(latent, op, "latent");
  expect_bf16(k_rope, op, "kRope");
  expect_bf16(w, op, "wkvB");
  expect_dtype(cu, DType::I32, op, "cuSeqLens");
  expect_rank(q, 3, op, "q");
  const int64_t T = q.dim(0);
  const int64_t H = q.dim(1);
  if (q.dim(2) != MLA_QK) throw_range_error(op, "q.shape", "[T, H, 192] (q_nope 128 | q_rope 64 per head)", shape_string(q.shape));
  expect_shape(latent, {T, MLA_LATENT}, op, "latent", "[T, 512] for T = " + std::to_string(T) + " tokens of q");
  expect_shape(k_rope, {T, MLA_ROPE}, op, "kRope", "[T, 64] for T = " + std::to_string(T) + " tokens of q");
  expect_shape(w, {H * MLA_WKV_B_ROWS, MLA_LATENT}, op, "wkvB", "[H * 256, 512] for H = " + std::to_string(H) + " heads of q");
  expect_rank(cu, 1, op, "cuSeqLens");
  if (cu.dim(0) < 1 || cu.dim(0) - 1 > INT32_MAX) {
    throw_range_error(op, "cuSeqLens.shape", "[B + 1] with 0 <= B < 2^31", shape_string(cu.shape));
  }
  for (const TensorRef* t : {&latent, &k_rope, &w, &cu}) expect_same_device(q, *t, op, "q", t == &latent ? "latent" : t == &k_rope ? "kRope" : t == &w ? "wkvB" : "cuSeqLens");
  Device& device = q.device();
  TensorRef out = allocate_tensor(device, DType::BF16, {T, H, MLA_V}, op, "the output [T, H, 128]");
  TensorRef lse = allocate_tensor(device, DType::F32, {H, T}, op, "the LSE [H, T]");
  PrefillParams p{};
  p.q = q.data_as<uint16_t>();
  p.latent = latent.data_as<uint16_t>();
  p.k_rope = k_rope.data_as<uint16_t>();
  p.wkv_b = w.data_as<uint16_t>();
  p.cu_seq_lens = cu.data_as<int32_t>();
  p.out = out.data_as<uint16_t>();
  p.lse = lse.data_as<float>();
  p.tokens = T;
  p.heads = H;
  p.seqs = static_cast<int32_t>(cu.dim(0) - 1);
  p.softmax_scale = static_cast<float>(scale);
  p.causal = causal;
  enqueue_op(device, op, {{q.storage, latent.storage, k_rope.storage, w.storage, cu.storage}, {out.storage, lse.storage}}, prefill_versions(),
             impl, prefill_cpu, p);
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, TensorHandle::wrap(info.Env(), std::move(out)));
  result.Set(1u, TensorHandle::wrap(info.Env(), std::move(lse)));
  return result;
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("mlaPrefill", Napi::Function::New<guarded<prefill>>(env, "mlaPrefill")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("mla.prefill", moekit::prefill_versions)
