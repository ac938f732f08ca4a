// moe.permute: binding and CUDA version table (interface: permute.h).
#include <napi.h>

#include <cstdint>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../common/expert_layout.h"
#include "../dispatch.h"
#include "../registry.h"
#include "permute.h"

namespace moekit {

// The CUDA versions, v1 first; `verified_on` and `emulated_on` as in every
// table (see native/ops/moe/route.cc).
const std::vector<KernelVersion<PermuteParams>>& permute_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<PermuteParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "one block: shared counts, serial prefix sum, chunks of picks ranked in order", 80, 0, "", "", "sm80,sm89,sm90a",
       always_supported<PermuteParams>,
       permute_v1},
#endif
  };
  return versions;
}

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// permute(ids [T,K], numExperts, align, impl) -> [rowIds, offsets, counts, inverse]
Napi::Value permute(const Napi::CallbackInfo& info) {
  const char* op = "moe.permute";
  const TensorRef ids = arg_tensor(info, 0, op, "ids");
  const int64_t E = arg_int(info, 1, op, "numExperts", 1, MAX_PERMUTE_EXPERTS);
  const int64_t align = arg_int(info, 2, op, "options.align", 1, MAX_PERMUTE_ALIGN);
  const std::string impl = arg_string(info, 3, op, "options.impl");
  if ((align & (align - 1)) != 0) throw_range_error(op, "options.align", "a power of two in [1, " + str(MAX_PERMUTE_ALIGN) + "]", str(align));
  expect_dtype(ids, DType::I32, op, "ids");
  expect_rank(ids, 2, op, "ids");
  const int64_t T = ids.dim(0);
  const int64_t K = ids.dim(1);
  if (K < 1 || K > MAX_PERMUTE_TOP_K) {
    throw_range_error(op, "ids.shape", "[T, K] with K in [1, " + str(MAX_PERMUTE_TOP_K) + "]", shape_string(ids.shape));
  }
  int64_t rows = 0;
  if (!contiguous_rows_worst_case(T, K, E, align, &rows) || rows > INT32_MAX) {
    throw_range_error(op, "ids.shape", "[T, K] with T*K + min(E, T*K)*(align - 1) rows below 2^31", shape_string(ids.shape));
  }
  Device& device = ids.device();
  TensorRef row_ids = allocate_tensor(device, DType::I32, {rows}, op, "the row ids [P]");
  TensorRef offsets = allocate_tensor(device, DType::I32, {E + 1}, op, "the offsets [E + 1]");
  TensorRef counts = allocate_tensor(device, DType::I32, {E}, op, "the counts [E]");
  TensorRef inverse = allocate_tensor(device, DType::I32, {T, K}, op, "the inverse [T, K]");
  const PermuteParams p{ids.data_as<int32_t>(),     row_ids.data_as<int32_t>(), offsets.data_as<int32_t>(), counts.data_as<int32_t>(),
                        inverse.data_as<int32_t>(), T,                          static_cast<int>(K),        static_cast<int>(E),
                        static_cast<int>(align),    rows};
  enqueue_op(device, op, {{ids.storage}, {row_ids.storage, offsets.storage, counts.storage, inverse.storage}}, permute_versions(), impl,
             permute_cpu, p);
  Napi::Array out = Napi::Array::New(info.Env(), 4);
  out.Set(0u, TensorHandle::wrap(info.Env(), std::move(row_ids)));
  out.Set(1u, TensorHandle::wrap(info.Env(), std::move(offsets)));
  out.Set(2u, TensorHandle::wrap(info.Env(), std::move(counts)));
  out.Set(3u, TensorHandle::wrap(info.Env(), std::move(inverse)));
  return out;
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("moePermute", Napi::Function::New<guarded<permute>>(env, "moePermute")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("moe.permute", moekit::permute_versions)
