// mla.decode: binding and CUDA version table (interface: decode.h).
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "../../../cuda/mla/decode_config_v1.h"
#include "../../../cuda/mla/paged_kv.h"
#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"
#include "cache_format.h"
#include "cache_layout.h"
#include "decode.h"

namespace moekit {

// The CUDA versions, v1 first (v3: the Hopper path); `verified_on` and `emulated_on` as in every
// table (see native/ops/moe/route.cc).
const std::vector<KernelVersion<MlaDecodeParams>>& mla_decode_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<MlaDecodeParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "SIMT flash-decoding: split-KV over the SMs, f32 online softmax, a combine kernel", 80, 0, "", "", "sm80,sm89,sm90a",
       always_supported<MlaDecodeParams>, mla_decode_v1},
      {"v2", "mma.sync tensor cores: 32 query rows x 32-key tiles, e4m3 widened to bf16 in shared memory, v1's split-KV and combine", 80, 0,
       "", "", "sm80,sm89,sm90a", always_supported<MlaDecodeParams>, mla_decode_v2},
      {"v3", "sm_90a: TMA page loads, wgmma bf16, warp-specialised, 64 query rows per block; bf16 cache, page size 64", 90, 90,
       "90a", "", "sm90a", mla_decode_v3_unsupported, mla_decode_v3},
#endif
  };
  return versions;
}

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// Query tokens and heads per call: the grid's y and z dimensions and the
// combine's 1-D grid stay far inside CUDA's limits.
constexpr int64_t MAX_DECODE_BATCH = 65535;
constexpr int64_t MAX_DECODE_Q_LEN = 128;
constexpr int64_t MAX_DECODE_HEADS = 1024;

// decode(q [B,Sq,H,576], cache, blockTable [B,P], seqLens [B], softmaxScale, causal, impl) -> [out, lse]
Napi::Value decode(const Napi::CallbackInfo& info) {
  const char* op = "mla.decode";
  const TensorRef& q = arg_tensor(info, 0, op, "q");
  const TensorRef& cache = arg_tensor(info, 1, op, "kvCache");
  const TensorRef& table = arg_tensor(info, 2, op, "blockTable");
  const TensorRef& seq_lens = arg_tensor(info, 3, op, "seqLens");
  const double scale = arg_number(info, 4, op, "softmaxScale");
  const bool causal = arg_bool(info, 5, op, "causal");
  const std::string impl = arg_string(info, 6, op, "options.impl");
  if (!std::isfinite(scale) || scale <= 0.0) throw_range_error(op, "softmaxScale", "a finite number > 0", number_text(scale));
  const DType format = mla_cache_format(cache, op, "kvCache");
  expect_dtype(q, DType::BF16, op, "q");
  expect_dtype(table, DType::I32, op, "blockTable");
  expect_dtype(seq_lens, DType::I32, op, "seqLens");
  expect_rank(q, 4, op, "q");
  const int64_t B = q.dim(0);
  const int64_t Sq = q.dim(1);
  const int64_t H = q.dim(2);
  if (q.dim(3) != MLA_HEAD) throw_range_error(op, "q.shape", "[B, Sq, H, 576] (absorbed q_nope 512 | q_rope 64)", shape_string(q.shape));
  if (B > MAX_DECODE_BATCH) throw_range_error(op, "q.shape", "[B, Sq, H, 576] with B <= " + str(MAX_DECODE_BATCH), shape_string(q.shape));
  if (Sq < 1 || Sq > MAX_DECODE_Q_LEN) throw_range_error(op, "q.shape", "[B, Sq, H, 576] with Sq in [1, " + str(MAX_DECODE_Q_LEN) + "]", shape_string(q.shape));
  if (H < 1 || H > MAX_DECODE_HEADS) throw_range_error(op, "q.shape", "[B, Sq, H, 576] with H in [1, " + str(MAX_DECODE_HEADS) + "]", shape_string(q.shape));
  expect_rank(table, 2, op, "blockTable");
  if (table.dim(0) != B) throw_range_error(op, "blockTable.shape", "[" + str(B) + ", maxPages] (one row per sequence of q)", shape_string(table.shape));
  const int64_t max_pages = table.dim(1);
  if (max_pages < 1 || max_pages > INT32_MAX) throw_range_error(op, "blockTable.shape", "[B, maxPages] with maxPages in [1, 2^31)", shape_string(table.shape));
  expect_shape(seq_lens, {B}, op, "seqLens", "[B], one length per sequence of q");
  expect_same_device(q, cache, op, "q", "kvCache");
  expect_same_device(q, table, op, "q", "blockTable");
  expect_same_device(q, seq_lens, op, "q", "seqLens");
  const int64_t page_size = cache.dim(1);
  if (page_size < 1 || page_size > MLA_MAX_PAGE_SIZE) throw_range_error(op, "kvCache.pageSize", "in [1, " + str(MLA_MAX_PAGE_SIZE) + "]", str(page_size));
  Device& device = q.device();
  TensorRef out = allocate_tensor(device, DType::BF16, {B, Sq, H, MLA_LATENT}, op, "the output [B, Sq, H, 512]");
  TensorRef lse = allocate_tensor(device, DType::F32, {B, H, Sq}, op, "the lse [B, H, Sq]");
  MlaDecodeParams p{};
  p.q = q.data_as<uint16_t>();
  p.cache = cache.data();
  p.block_table = table.data_as<int32_t>();
  p.seq_lens = seq_lens.data_as<int32_t>();
  p.out = out.data_as<uint16_t>();
  p.lse = lse.data_as<float>();
  p.cache_dtype = format;
  p.batch = B;
  p.q_len = static_cast<int>(Sq);
  p.heads = static_cast<int>(H);
  p.blocks = cache.dim(0);
  p.page_size = static_cast<int>(page_size);
  p.max_pages = static_cast<int>(max_pages);
  p.splits = 1;
  p.softmax_scale = static_cast<float>(scale);
  p.causal = causal;
  std::vector<StoragePtr> written{out.storage, lse.storage};
  TensorRef out_accum;
  TensorRef lse_accum;
  if (device.kind() == DeviceKind::Cuda && B > 0) {
    // Split-KV partials (cuda/mla/paged_kv.h): the split count from sizes
    // the host knows, so no call waits for the lengths. It is fixed before
    // dispatch picks a version, so every version gets the same count (from
    // v1's 16-row groups; v2's blocks take 32 rows, so it launches about
    // half as many blocks per split).
    const int64_t row_groups = ceil_div<int64_t>(Sq * H, MLA_DECODE_V1_ROWS);
    p.splits = mla_decode_splits(B, row_groups, max_pages * page_size, device.info().sm_count);
    out_accum = allocate_tensor(device, DType::F32, {B, p.splits, Sq * H, MLA_LATENT}, op, "the split-KV partial outputs");
    lse_accum = allocate_tensor(device, DType::F32, {B, p.splits, Sq * H}, op, "the split-KV partial lse");
    p.out_accum = out_accum.data_as<float>();
    p.lse_accum = lse_accum.data_as<float>();
    written.push_back(out_accum.storage);
    written.push_back(lse_accum.storage);
  }
  enqueue_op(device, op, {{q.storage, cache.storage, table.storage, seq_lens.storage}, written}, mla_decode_versions(), impl, mla_decode_cpu, p);
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, TensorHandle::wrap(info.Env(), std::move(out)));
  result.Set(1u, TensorHandle::wrap(info.Env(), std::move(lse)));
  return result;
}

void install(Napi::Env env, Napi::Object exports) { exports.Set("mlaDecode", Napi::Function::New<guarded<decode>>(env, "mlaDecode")); }

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("mla.decode", moekit::mla_decode_versions)
