// mla.append: binding and CUDA version table (interface: append.h).
#include <napi.h>

#include <cstdint>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"
#include "append.h"
#include "cache_format.h"
#include "cache_layout.h"

namespace moekit {

// The CUDA versions, v1 first; `verified_on` and `emulated_on` as in every
// table (see native/ops/moe/route.cc).
const std::vector<KernelVersion<MlaAppendParams>>& mla_append_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<MlaAppendParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "a warp per token row: copy, or 1x128 e4m3 quantization of the latent", 80, 0, "", "", "sm80,sm89,sm90a",
       always_supported<MlaAppendParams>, mla_append_v1},
#endif
  };
  return versions;
}

DType mla_cache_format(const TensorRef& cache, const char* op, const char* name) {
  if (cache.rank() == 3 && cache.dtype == DType::BF16 && cache.dim(2) == MLA_HEAD) return DType::BF16;
  if (cache.rank() == 3 && cache.dtype == DType::U8 && cache.dim(2) == MLA_FP8_ROW_BYTES) return DType::E4M3;
  throw_type_error(op, name, "a bf16 [blocks, pageSize, 576] cache or an e4m3 cache (u8 [blocks, pageSize, 656] rows)",
                   quoted(cache.dtype) + " " + shape_string(cache.shape));
}

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// append(cache, latent [B,S,512], kRope [B,S,64], blockTable [B,P], positions [B], lengths [B], impl)
Napi::Value append(const Napi::CallbackInfo& info) {
  const char* op = "mla.append";
  const TensorRef& cache = arg_tensor(info, 0, op, "cache");
  const TensorRef& latent = arg_tensor(info, 1, op, "latent");
  const TensorRef& k_rope = arg_tensor(info, 2, op, "kRope");
  const TensorRef& table = arg_tensor(info, 3, op, "blockTable");
  const TensorRef& positions = arg_tensor(info, 4, op, "positions");
  const TensorRef& lengths = arg_tensor(info, 5, op, "lengths");
  const std::string impl = arg_string(info, 6, op, "options.impl");
  const DType format = mla_cache_format(cache, op, "cache");
  expect_dtype(latent, DType::BF16, op, "latent");
  expect_dtype(k_rope, DType::BF16, op, "kRope");
  expect_dtype(table, DType::I32, op, "blockTable");
  expect_dtype(positions, DType::I32, op, "positions");
  expect_dtype(lengths, DType::I32, op, "lengths");
  expect_rank(latent, 3, op, "latent");
  const int64_t B = latent.dim(0);
  const int64_t S = latent.dim(1);
  expect_shape(latent, {B, S, MLA_LATENT}, op, "latent", "[B, S, 512]");
  expect_shape(k_rope, {B, S, MLA_ROPE}, op, "kRope", "[B, S, 64] beside latent [B, S, 512]");
  expect_rank(table, 2, op, "blockTable");
  if (table.dim(0) != B) throw_range_error(op, "blockTable.shape", "[" + str(B) + ", maxPages] (one row per sequence of latent)", shape_string(table.shape));
  const int64_t max_pages = table.dim(1);
  if (max_pages < 1 || max_pages > INT32_MAX) throw_range_error(op, "blockTable.shape", "[B, maxPages] with maxPages in [1, 2^31)", shape_string(table.shape));
  expect_shape(positions, {B}, op, "positions", "[B]");
  expect_shape(lengths, {B}, op, "lengths", "[B]");
  expect_same_device(cache, latent, op, "cache", "latent");
  expect_same_device(cache, k_rope, op, "cache", "kRope");
  expect_same_device(cache, table, op, "cache", "blockTable");
  expect_same_device(cache, positions, op, "cache", "positions");
  expect_same_device(cache, lengths, op, "cache", "lengths");
  const int64_t page_size = cache.dim(1);
  if (page_size < 1 || page_size > MLA_MAX_PAGE_SIZE) throw_range_error(op, "cache.pageSize", "in [1, " + str(MLA_MAX_PAGE_SIZE) + "]", str(page_size));
  Device& device = cache.device();
  MlaAppendParams p{};
  p.latent = latent.data_as<uint16_t>();
  p.k_rope = k_rope.data_as<uint16_t>();
  p.block_table = table.data_as<int32_t>();
  p.positions = positions.data_as<int32_t>();
  p.lengths = lengths.data_as<int32_t>();
  p.cache = cache.data();
  p.cache_dtype = format;
  p.batch = B;
  p.tokens = S;
  p.blocks = cache.dim(0);
  p.page_size = static_cast<int>(page_size);
  p.max_pages = static_cast<int>(max_pages);
  TaskIO io{{latent.storage, k_rope.storage, table.storage, positions.storage, lengths.storage}, {}};
  io.in_place = {cache.storage};
  enqueue_op(device, op, std::move(io), mla_append_versions(), impl, mla_append_cpu, p);
  return info.Env().Undefined();
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("mlaAppend", Napi::Function::New<guarded<append>>(env, "mlaAppend")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("mla.append", moekit::mla_append_versions)
