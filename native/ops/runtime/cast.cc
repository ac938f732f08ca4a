// cast: binding and CUDA version table (interface: cast.h).
#include <napi.h>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"
#include "cast.h"

namespace moekit {

// The CUDA versions (see native/ops/gemm/gemm.cc for `verified_on`).
const std::vector<KernelVersion<CastParams>>& cast_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<CastParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "a thread per element", 80, 0, "", "", "sm80,sm89,sm90a", always_supported<CastParams>, cast_v1},
#endif
  };
  return versions;
}

namespace {

Napi::Value cast(const Napi::CallbackInfo& info) {
  const TensorRef src = arg_tensor(info, 0, "cast", "tensor");
  const DType dtype = arg_dtype(info, 1, "cast", "dtype");
  TensorRef dst = allocate_tensor(src.device(), dtype, src.shape, "cast", "the output");
  const CastParams p{src.data(), dst.data(), src.dtype, dst.dtype, src.numel()};
  enqueue_op(src.device(), "cast", {{src.storage}, {dst.storage}}, cast_versions(), "auto", cast_cpu, p);
  return TensorHandle::wrap(info.Env(), std::move(dst));
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("cast", Napi::Function::New<guarded<cast>>(env, "cast")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("cast", moekit::cast_versions)
