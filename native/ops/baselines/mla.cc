// The unfused MLA baselines: what a user of cuBLAS builds for DeepSeek's
// attention, for the MLA benchmarks to compare moekit's fused kernels
// against (docs/architecture.md, "Baselines").
//
//   mlaDecode (the absorbed form, over a paged cache):
//     1. gather each sequence's pages into Kg [B, maxSk, 576] (mla_steps.h);
//     2. scores [B, Sq*H, maxSk] f32 = q[b] (Sq*H rows of 576) · Kg[b]ᵀ,
//        one cublasGemmStridedBatchedEx over b (MQA: every head of an entry
//        reads the same keys, so heads and queries are the GEMM's rows);
//     3. the masked softmax: bf16 probabilities P and the LSE;
//     4. out [B, Sq, H, 512] bf16 = P[b] · V[b], V = the first 512 columns of Kg.
//   mlaPrefill (the naive form, over packed sequences):
//     1. kv [T, H*256] bf16 = latent · wkvBᵀ, one cuBLASLt matmul (per head
//        128 columns of k_nope, then 128 of v);
//     2. K [T, H, 192] = [k_nope | kRope] (mla_steps.h's assemble);
//     3. per sequence of S tokens: scores [H, S, S] f32 = q_h · K_hᵀ
//        (strided batched over heads), the masked softmax, and
//        out_h = P_h · V_h (strided batched over heads; V read in place in kv).
// Both materialize what the fused kernels never write (the gathered cache,
// K and V, the scores and probabilities): their workspace is returned with
// the outputs, for benchmarks to report beside peak memory.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mla_steps.h"
#include "shared.h"
#include "../mla/latent_dims.h"
#include "../../baselines/cublas_grouped.h"
#include "../../baselines/cublaslt_matmul.h"
#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../core/size_math.h"
#include "../../device/registry.h"
#include "../registry.h"

namespace moekit {

std::string mla_blocker(const CublasLtLibrary& lt, const CublasLibrary& cublas, const DeviceInfo* gpu, const std::string& device_id) {
  if (!lt.api) return lt.reason;
  if (!cublas.api) return cublas.reason;
  if (!cublas.api->gemm_strided_batched_ex) {
    return "the loaded cuBLAS " + cublaslt_version_text(cublas.version) + " (" + cublas.path + ") lacks cublasGemmStridedBatchedEx";
  }
  if (!gpu) return no_gpu_blocker(device_id);
  return "";
}

namespace {

constexpr const char* DECODE_OP = "baselines.mlaDecode";
constexpr const char* PREFILL_OP = "baselines.mlaPrefill";
constexpr const char* GATHER_OP = "baselines.mlaGather";
constexpr const char* SOFTMAX_OP = "baselines.mlaSoftmax";
constexpr const char* ASSEMBLE_OP = "baselines.mlaAssembleKeys";
constexpr int64_t INT32_LIMIT = std::numeric_limits<int32_t>::max();

struct MlaLibraries {
  CublasLtLibrary lt;
  CublasLibrary cublas;
};

// The libraries when the MLA baselines can run on `device`; else throws
// Error(Unsupported) saying why and how to fix it.
MlaLibraries require_mla(const char* op, Device& device) {
  MlaLibraries l{cublaslt_library(), cublas_library()};
  DeviceInfo info;
  const DeviceInfo* gpu = nullptr;
  if (device.kind() == DeviceKind::Cuda) {
    info = device.info();
    gpu = &info;
  }
  const std::string why = mla_blocker(l.lt, l.cublas, gpu, device.id());
  if (!why.empty()) throw_unsupported(std::string(op) + ": " + why);
  return l;
}

// cuBLAS takes sizes, leading dimensions and batch counts as int.
void expect_int32(const char* op, const std::string& what, int64_t value) {
  if (value > INT32_LIMIT) {
    throw_unsupported(std::string(op) + ": cuBLAS takes sizes up to " + std::to_string(INT32_LIMIT) + ", and " + what + " is " +
                      std::to_string(value));
  }
}

// a · b · c, or a RangeError naming `what`.
int64_t checked_product(const char* op, const std::string& what, std::initializer_list<int64_t> factors) {
  int64_t r = 1;
  for (int64_t f : factors) {
    if (!checked_mul(r, f, &r)) throw_range_error(op, what, "a size below 2^63", "more");
  }
  return r;
}

int64_t checked_sum(const char* op, const std::string& what, std::initializer_list<int64_t> terms) {
  int64_t r = 0;
  for (int64_t t : terms) {
    if (!checked_add(r, t, &r)) throw_range_error(op, what, "a size below 2^63", "more");
  }
  return r;
}

// The step launchers: the CPU twin on the CPU, the CUDA kernel on a GPU.
void run_gather(ExecContext& ctx, const MlaGatherParams& p) {
  if (ctx.device.kind() == DeviceKind::Cpu) return mla_gather_cpu(p);
#ifdef MOEKIT_WITH_CUDA
  mla_gather_v1(p, ctx.stream);
#else
  throw_unsupported(std::string(GATHER_OP) + ": this build has no CUDA kernels");
#endif
}

void run_softmax(ExecContext& ctx, const MlaSoftmaxParams& p) {
  if (ctx.device.kind() == DeviceKind::Cpu) return mla_softmax_cpu(p);
#ifdef MOEKIT_WITH_CUDA
  mla_softmax_v1(p, ctx.stream);
#else
  throw_unsupported(std::string(SOFTMAX_OP) + ": this build has no CUDA kernels");
#endif
}

void run_assemble(ExecContext& ctx, const MlaAssembleParams& p) {
  if (ctx.device.kind() == DeviceKind::Cpu) return mla_assemble_cpu(p);
#ifdef MOEKIT_WITH_CUDA
  mla_assemble_v1(p, ctx.stream);
#else
  throw_unsupported(std::string(ASSEMBLE_OP) + ": this build has no CUDA kernels");
#endif
}

// ---- Gather -------------------------------------------------------------------

// A gather over the whole batch, split into launches of at most MLA_STEP_LENGTHS entries.
struct GatherPlan {
  std::vector<MlaGatherParams> launches;
};

GatherPlan plan_gather(const TensorRef& cache, const TensorRef& table, const std::vector<int64_t>& lens, int64_t max_len, uint16_t* out) {
  GatherPlan plan;
  const auto batch = static_cast<int64_t>(lens.size());
  for (int64_t first = 0; first < batch; first += MLA_STEP_LENGTHS) {
    MlaGatherParams p{};
    p.cache = cache.data_as<const uint16_t>();
    p.block_table = table.data_as<const int32_t>();
    p.out = out;
    p.blocks = cache.dim(0);
    p.page_size = cache.dim(1);
    p.max_pages = table.dim(1);
    p.max_len = max_len;
    p.first = first;
    p.count = std::min<int64_t>(MLA_STEP_LENGTHS, batch - first);
    for (int64_t e = 0; e < p.count; ++e) p.lengths[e] = static_cast<int32_t>(lens[static_cast<size_t>(first + e)]);
    plan.launches.push_back(p);
  }
  return plan;
}

// The checked operands of a decode gather: the cache, the block table and
// the host lengths (one per row of the table, each within its pages).
struct GatherOperands {
  TensorRef cache, table;
  std::vector<int64_t> lens;
  int64_t max_len = 0;
};

GatherOperands arg_gather(const Napi::CallbackInfo& info, size_t i, const char* op, int64_t expected_batch) {
  GatherOperands g;
  g.cache = arg_tensor(info, i, op, "cache");
  g.table = arg_tensor(info, i + 1, op, "blockTable");
  expect_dtype(g.cache, DType::BF16, op, "cache");
  expect_dtype(g.table, DType::I32, op, "blockTable");
  expect_rank(g.cache, 3, op, "cache");
  expect_rank(g.table, 2, op, "blockTable");
  if (g.cache.dim(2) != MLA_ROW) {
    throw_range_error(op, "cache.shape", "[blocks, pageSize, 576] (latent 512 | kRope 64 per row)", shape_string(g.cache.shape));
  }
  const int64_t batch = g.table.dim(0);
  if (expected_batch >= 0 && batch != expected_batch) {
    throw_range_error(op, "blockTable.shape", "[" + std::to_string(expected_batch) + ", maxPages] (a row per batch entry of q)",
                      shape_string(g.table.shape));
  }
  g.lens = arg_int_array(info, i + 2, op, "seqLens", static_cast<size_t>(batch),
                         std::to_string(batch) + " (B, the rows of blockTable)");
  const int64_t capacity = checked_product(op, "blockTable.shape", {g.table.dim(1), g.cache.dim(1)});
  for (size_t b = 0; b < g.lens.size(); ++b) {
    if (g.lens[b] > capacity) {
      throw_range_error(op, "seqLens[" + std::to_string(b) + "]",
                        "at most " + std::to_string(capacity) + " (maxPages " + std::to_string(g.table.dim(1)) + " x pageSize " +
                            std::to_string(g.cache.dim(1)) + ")",
                        std::to_string(g.lens[b]));
    }
    g.max_len = std::max(g.max_len, g.lens[b]);
  }
  expect_int32(op, "the longest sequence", g.max_len);
  expect_same_device(g.cache, g.table, op, "cache", "blockTable");
  return g;
}

// baselineMlaGather(cache, blockTable, seqLens) -> bf16 [B, max(seqLens), 576]. Any device.
Napi::Value mla_gather(const Napi::CallbackInfo& info) {
  const char* op = GATHER_OP;
  const GatherOperands g = arg_gather(info, 0, op, -1);
  Device& device = g.cache.device();
  const auto batch = static_cast<int64_t>(g.lens.size());
  TensorRef out = allocate_tensor(device, DType::BF16, {batch, g.max_len, MLA_ROW}, op, "the gathered cache [B, maxSk, 576]");
  GatherPlan plan = plan_gather(g.cache, g.table, g.lens, g.max_len, out.data_as<uint16_t>());
  device.enqueue("baseline mla gather", {{g.cache.storage, g.table.storage}, {out.storage}},
                 [plan = std::move(plan), g, out](ExecContext& ctx) {
                   for (const MlaGatherParams& p : plan.launches) run_gather(ctx, p);
                 });
  return TensorHandle::wrap(info.Env(), std::move(out));
}

// ---- Softmax ------------------------------------------------------------------

// The launches of a softmax over `lens.size()` entries of `rows` rows each:
// at most MLA_STEP_LENGTHS entries and 2^31 - 1 rows (blocks) per launch.
std::vector<MlaSoftmaxParams> plan_softmax(const MlaSoftmaxParams& base, const std::vector<int64_t>& lens) {
  std::vector<MlaSoftmaxParams> launches;
  const int64_t rows = base.heads * base.queries;
  const auto batch = static_cast<int64_t>(lens.size());
  if (rows == 0) return launches;
  const int64_t per_launch = std::max<int64_t>(1, std::min<int64_t>(MLA_STEP_LENGTHS, INT32_LIMIT / rows));
  for (int64_t first = 0; first < batch; first += per_launch) {
    MlaSoftmaxParams p = base;
    p.scores = base.scores + first * rows * base.cols;
    p.probs = base.probs + first * rows * base.cols;
    p.lse = base.lse + first * base.lse_entry_stride;
    p.count = std::min<int64_t>(per_launch, batch - first);
    for (int64_t e = 0; e < p.count; ++e) p.lengths[e] = static_cast<int32_t>(lens[static_cast<size_t>(first + e)]);
    launches.push_back(p);
  }
  return launches;
}

float arg_scale(const Napi::CallbackInfo& info, size_t i, const char* op) {
  const double scale = arg_number(info, i, op, "softmaxScale");
  if (!std::isfinite(scale) || std::fabs(scale) > std::numeric_limits<float>::max()) {
    throw_range_error(op, "softmaxScale", "a finite number", number_text(scale));
  }
  return static_cast<float>(scale);
}

// baselineMlaSoftmax(scores f32 [N, rows, C], lengths[N], heads, queries, headMajor, softmaxScale, causal)
//   -> [probs bf16 [N, rows, C], lse f32 [N, heads, queries]]; rows = heads · queries. Any device.
Napi::Value mla_softmax(const Napi::CallbackInfo& info) {
  const char* op = SOFTMAX_OP;
  const TensorRef scores = arg_tensor(info, 0, op, "scores");
  expect_dtype(scores, DType::F32, op, "scores");
  expect_rank(scores, 3, op, "scores");
  const int64_t n = scores.dim(0), cols = scores.dim(2);
  const int64_t heads = arg_int(info, 2, op, "heads", 0, INT32_LIMIT);
  const int64_t queries = arg_int(info, 3, op, "queries", 0, INT32_LIMIT);
  const bool head_major = arg_bool(info, 4, op, "headMajor");
  const float scale = arg_scale(info, 5, op);
  const bool causal = arg_bool(info, 6, op, "causal");
  if (scores.dim(1) != checked_product(op, "heads * queries", {heads, queries})) {
    throw_range_error(op, "scores.shape", "[N, " + std::to_string(heads) + " * " + std::to_string(queries) + ", C] (rows = heads * queries)",
                      shape_string(scores.shape));
  }
  const std::vector<int64_t> lens = arg_int_array(info, 1, op, "lengths", static_cast<size_t>(n), std::to_string(n) + " (N, the entries of scores)");
  for (size_t e = 0; e < lens.size(); ++e) {
    if (lens[e] > cols) throw_range_error(op, "lengths[" + std::to_string(e) + "]", "at most " + std::to_string(cols) + " (C, the columns of scores)", std::to_string(lens[e]));
  }
  Device& device = scores.device();
  TensorRef probs = allocate_tensor(device, DType::BF16, scores.shape, op, "the probabilities");
  TensorRef lse = allocate_tensor(device, DType::F32, {n, heads, queries}, op, "the LSE [N, heads, queries]");
  MlaSoftmaxParams base{};
  base.scores = scores.data_as<const float>();
  base.probs = probs.data_as<uint16_t>();
  base.lse = lse.data_as<float>();
  base.heads = heads;
  base.queries = queries;
  base.cols = cols;
  base.lse_entry_stride = heads * queries;
  base.lse_head_stride = queries;
  base.scale = scale;
  base.causal = causal;
  base.head_major = head_major;
  std::vector<MlaSoftmaxParams> launches = plan_softmax(base, lens);
  device.enqueue("baseline mla softmax", {{scores.storage}, {probs.storage, lse.storage}},
                 [launches = std::move(launches), scores, probs, lse](ExecContext& ctx) {
                   for (const MlaSoftmaxParams& p : launches) run_softmax(ctx, p);
                 });
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, TensorHandle::wrap(info.Env(), std::move(probs)));
  result.Set(1u, TensorHandle::wrap(info.Env(), std::move(lse)));
  return result;
}

// ---- Assemble -----------------------------------------------------------------

void expect_assemble_operands(const TensorRef& kv, const TensorRef& k_rope, const char* op, const char* kv_name) {
  expect_dtype(kv, DType::BF16, op, kv_name);
  expect_dtype(k_rope, DType::BF16, op, "kRope");
  expect_rank(kv, 2, op, kv_name);
  if (kv.dim(1) % MLA_WKV_B_ROWS != 0) {
    throw_range_error(op, std::string(kv_name) + ".shape", "[T, H * 256] (per head 128 columns of k_nope, then 128 of v)", shape_string(kv.shape));
  }
  expect_shape(k_rope, {kv.dim(0), MLA_ROPE}, op, "kRope", "[T, 64] for the T = " + std::to_string(kv.dim(0)) + " tokens of " + kv_name);
  expect_same_device(kv, k_rope, op, kv_name, "kRope");
}

MlaAssembleParams assemble_params(const TensorRef& kv, const TensorRef& k_rope, uint16_t* k, int64_t heads) {
  MlaAssembleParams p{};
  p.kv = kv.data_as<const uint16_t>();
  p.k_rope = k_rope.data_as<const uint16_t>();
  p.k = k;
  p.tokens = kv.dim(0);
  p.heads = heads;
  return p;
}

// baselineMlaAssemble(kv [T, H*256], kRope [T, 64]) -> K bf16 [T, H, 192]. Any device.
Napi::Value mla_assemble(const Napi::CallbackInfo& info) {
  const char* op = ASSEMBLE_OP;
  const TensorRef kv = arg_tensor(info, 0, op, "kv");
  const TensorRef k_rope = arg_tensor(info, 1, op, "kRope");
  expect_assemble_operands(kv, k_rope, op, "kv");
  const int64_t heads = kv.dim(1) / MLA_WKV_B_ROWS;
  Device& device = kv.device();
  TensorRef k = allocate_tensor(device, DType::BF16, {kv.dim(0), heads, MLA_QK}, op, "the keys [T, H, 192]");
  const MlaAssembleParams p = assemble_params(kv, k_rope, k.data_as<uint16_t>(), heads);
  device.enqueue("baseline mla assemble", {{kv.storage, k_rope.storage}, {k.storage}},
                 [p, kv, k_rope, k](ExecContext& ctx) { run_assemble(ctx, p); });
  return TensorHandle::wrap(info.Env(), std::move(k));
}

// ---- Decode -------------------------------------------------------------------

// [out, lse, workspaceBytes] for JS.
Napi::Array result_to_js(Napi::Env env, TensorRef out, TensorRef lse, int64_t workspace) {
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, TensorHandle::wrap(env, std::move(out)));
  result.Set(1u, TensorHandle::wrap(env, std::move(lse)));
  result.Set(2u, Napi::Number::New(env, static_cast<double>(workspace)));
  return result;
}

// baselineMlaDecode(q [B,Sq,H,576], cache [blocks,pageSize,576], blockTable i32 [B,maxPages], seqLens[B], softmaxScale, causal)
//   -> [out bf16 [B,Sq,H,512], lse f32 [B,H,Sq], workspaceBytes]
Napi::Value mla_decode(const Napi::CallbackInfo& info) {
  const char* op = DECODE_OP;
  const TensorRef q = arg_tensor(info, 0, op, "q");
  expect_dtype(q, DType::BF16, op, "q");
  expect_rank(q, 4, op, "q");
  if (q.dim(3) != MLA_ROW) throw_range_error(op, "q.shape", "[B, Sq, H, 576] (absorbed q_nope 512 | q_rope 64 per head)", shape_string(q.shape));
  const int64_t batch = q.dim(0), sq = q.dim(1), heads = q.dim(2);
  const GatherOperands g = arg_gather(info, 1, op, batch);
  const float scale = arg_scale(info, 4, op);
  const bool causal = arg_bool(info, 5, op, "causal");
  expect_same_device(q, g.cache, op, "q", "cache");
  const int64_t rows = checked_product(op, "q.shape", {sq, heads});  // query rows per entry
  const int64_t max_len = g.max_len;
  expect_int32(op, "Sq * H", rows);
  expect_int32(op, "B", batch);
  const int64_t kg_bytes = checked_product(op, "the gathered cache", {batch, max_len, MLA_ROW, 2});
  const int64_t score_elems = checked_product(op, "the scores", {batch, rows, max_len});
  const int64_t workspace = checked_sum(op, "the workspace", {kg_bytes, checked_product(op, "the scores", {score_elems, 6})});
  Device& device = q.device();
  const MlaLibraries libs = require_mla(op, device);
  TensorRef out = allocate_tensor(device, DType::BF16, {batch, sq, heads, MLA_LATENT}, op, "the output [B, Sq, H, 512]");
  TensorRef lse = allocate_tensor(device, DType::F32, {batch, heads, sq}, op, "the LSE [B, H, Sq]");
  if (batch == 0 || rows == 0) return result_to_js(info.Env(), std::move(out), std::move(lse), 0);
  TensorRef kg = allocate_tensor(device, DType::BF16, {batch, max_len, MLA_ROW}, op, "the gathered cache [B, maxSk, 576]");
  TensorRef scores = allocate_tensor(device, DType::F32, {batch, rows, max_len}, op, "the scores [B, Sq*H, maxSk]");
  TensorRef probs = allocate_tensor(device, DType::BF16, {batch, rows, max_len}, op, "the probabilities [B, Sq*H, maxSk]");
  GatherPlan gather = plan_gather(g.cache, g.table, g.lens, max_len, kg.data_as<uint16_t>());
  MlaSoftmaxParams sp{};
  sp.scores = scores.data_as<const float>();
  sp.probs = probs.data_as<uint16_t>();
  sp.lse = lse.data_as<float>();
  sp.heads = heads;
  sp.queries = sq;
  sp.cols = max_len;
  sp.lse_entry_stride = heads * sq;
  sp.lse_head_stride = sq;
  sp.scale = scale;
  sp.causal = causal;
  sp.head_major = false;
  std::vector<MlaSoftmaxParams> softmax = plan_softmax(sp, g.lens);
  // Row-major scores[b] = q[b] · Kg[b]ᵀ, as column-major scores[b]ᵀ = Kg[b] (op T) · q[b]ᵀ.
  StridedBatchedGemm qk;
  qk.transa = cublas::Operation::OP_T;
  qk.transb = cublas::Operation::OP_N;
  qk.m = max_len;
  qk.n = rows;
  qk.k = MLA_ROW;
  qk.a = kg.data();
  qk.lda = MLA_ROW;
  qk.stride_a = max_len * MLA_ROW;
  qk.b = q.data();
  qk.ldb = MLA_ROW;
  qk.stride_b = rows * MLA_ROW;
  qk.c = scores.data();
  qk.ldc = max_len;
  qk.stride_c = rows * max_len;
  qk.batch = batch;
  qk.c_type = cublas::DataType::R_32F;
  // Row-major out[b] = P[b] · V[b] (V: Kg[b]'s first 512 columns), as column-major out[b]ᵀ = V[b]ᵀ · P[b]ᵀ.
  StridedBatchedGemm pv;
  pv.m = MLA_LATENT;
  pv.n = rows;
  pv.k = max_len;
  pv.a = kg.data();
  pv.lda = MLA_ROW;
  pv.stride_a = max_len * MLA_ROW;
  pv.b = probs.data();
  pv.ldb = max_len;
  pv.stride_b = rows * max_len;
  pv.c = out.data();
  pv.ldc = MLA_LATENT;
  pv.stride_c = rows * MLA_LATENT;
  pv.batch = batch;
  pv.c_type = cublas::DataType::R_16BF;
  std::shared_ptr<CublasContext> context = cublas_context(device, libs.cublas);
  device.enqueue("baseline mla decode", {{q.storage, g.cache.storage, g.table.storage}, {out.storage, lse.storage, kg.storage, scores.storage, probs.storage}},
                 [context, gather = std::move(gather), softmax = std::move(softmax), qk, pv, q, g, out, lse, kg, scores, probs](ExecContext& ctx) {
                   for (const MlaGatherParams& p : gather.launches) run_gather(ctx, p);
                   if (qk.m > 0) context->strided_batched_gemm(qk, ctx.stream);
                   for (const MlaSoftmaxParams& p : softmax) run_softmax(ctx, p);
                   // No keys anywhere: nothing to sum, the output is zero.
                   if (pv.k == 0) {
                     ctx.device.fill_bytes(ctx, out.data(), 0, out.nbytes());
                   } else {
                     context->strided_batched_gemm(pv, ctx.stream);
                   }
                 });
  return result_to_js(info.Env(), std::move(out), std::move(lse), workspace);
}

// ---- Prefill ------------------------------------------------------------------

// baselineMlaPrefill(q [T,H,192], latent [T,512], kRope [T,64], wkvB [H*256,512], seqLens[B], softmaxScale, causal)
//   -> [out bf16 [T,H,128], lse f32 [H,T], workspaceBytes]
Napi::Value mla_prefill(const Napi::CallbackInfo& info) {
  const char* op = PREFILL_OP;
  const TensorRef q = arg_tensor(info, 0, op, "q");
  const TensorRef latent = arg_tensor(info, 1, op, "latent");
  const TensorRef k_rope = arg_tensor(info, 2, op, "kRope");
  const TensorRef w = arg_tensor(info, 3, op, "wkvB");
  for (const auto& [t, name] : {std::pair<const TensorRef*, const char*>{&q, "q"}, {&latent, "latent"}, {&k_rope, "kRope"}, {&w, "wkvB"}}) {
    expect_dtype(*t, DType::BF16, op, name);
  }
  expect_rank(q, 3, op, "q");
  const int64_t tokens = q.dim(0), heads = q.dim(1);
  if (q.dim(2) != MLA_QK) throw_range_error(op, "q.shape", "[T, H, 192] (q_nope 128 | q_rope 64 per head)", shape_string(q.shape));
  expect_shape(latent, {tokens, MLA_LATENT}, op, "latent", "[T, 512] for T = " + std::to_string(tokens) + " tokens of q");
  expect_shape(k_rope, {tokens, MLA_ROPE}, op, "kRope", "[T, 64] for T = " + std::to_string(tokens) + " tokens of q");
  const int64_t kv_cols = checked_product(op, "q.shape", {heads, MLA_WKV_B_ROWS});
  expect_shape(w, {kv_cols, MLA_LATENT}, op, "wkvB", "[H * 256, 512] for H = " + std::to_string(heads) + " heads of q");
  const Napi::Value lens_value = info.Length() > 4 ? info[4] : info.Env().Undefined();
  const size_t seqs = lens_value.IsArray() ? lens_value.As<Napi::Array>().Length() : 0;
  const std::vector<int64_t> lens = arg_int_array(info, 4, op, "seqLens", seqs, "any number of");
  int64_t total = 0, max_len = 0;
  for (int64_t len : lens) {
    total = checked_sum(op, "seqLens", {total, len});
    max_len = std::max(max_len, len);
  }
  if (total != tokens) throw_range_error(op, "seqLens", "lengths summing to T = " + std::to_string(tokens) + " (the tokens of q)", "a sum of " + std::to_string(total));
  const float scale = arg_scale(info, 5, op);
  const bool causal = arg_bool(info, 6, op, "causal");
  expect_same_device(q, latent, op, "q", "latent");
  expect_same_device(q, k_rope, op, "q", "kRope");
  expect_same_device(q, w, op, "q", "wkvB");
  expect_int32(op, "T", tokens);
  expect_int32(op, "H * 256", kv_cols);
  expect_int32(op, "H * S of the longest sequence", checked_product(op, "seqLens", {heads, max_len}));
  const int64_t kv_bytes = checked_product(op, "the decompressed K and V", {tokens, kv_cols, 2});
  const int64_t k_bytes = checked_product(op, "the keys", {tokens, heads, MLA_QK, 2});
  const int64_t score_elems = checked_product(op, "the scores", {heads, max_len, max_len});
  const int64_t workspace = checked_sum(op, "the workspace", {kv_bytes, k_bytes, checked_product(op, "the scores", {score_elems, 6})});
  Device& device = q.device();
  const MlaLibraries libs = require_mla(op, device);
  TensorRef out = allocate_tensor(device, DType::BF16, {tokens, heads, MLA_V}, op, "the output [T, H, 128]");
  TensorRef lse = allocate_tensor(device, DType::F32, {heads, tokens}, op, "the LSE [H, T]");
  if (tokens == 0 || heads == 0) return result_to_js(info.Env(), std::move(out), std::move(lse), 0);
  TensorRef kv = allocate_tensor(device, DType::BF16, {tokens, kv_cols}, op, "the decompressed K and V [T, H * 256]");
  TensorRef k = allocate_tensor(device, DType::BF16, {tokens, heads, MLA_QK}, op, "the keys [T, H, 192]");
  TensorRef scores = allocate_tensor(device, DType::F32, {heads, max_len, max_len}, op, "the scores [H, S, S]");
  TensorRef probs = allocate_tensor(device, DType::BF16, {heads, max_len, max_len}, op, "the probabilities [H, S, S]");
  LtMatmulProblem decompress;
  decompress.a = latent.data();
  decompress.b = w.data();
  decompress.c = kv.data();
  decompress.ab_type = cublaslt::R_16BF;
  decompress.c_type = cublaslt::R_16BF;
  decompress.m = tokens;
  decompress.n = kv_cols;
  decompress.k = MLA_LATENT;
  const MlaAssembleParams assemble = assemble_params(kv, k_rope, k.data_as<uint16_t>(), heads);
  struct Sequence {
    StridedBatchedGemm qk, pv;
    MlaSoftmaxParams softmax;
  };
  std::vector<Sequence> sequences;
  int64_t t0 = 0;
  for (int64_t s : lens) {
    if (s == 0) continue;
    Sequence sq{};
    // Row-major scores[h] = q_h · K_hᵀ (S x S), as column-major scores[h]ᵀ = K_h (op T) · q_hᵀ; batch over heads.
    sq.qk.transa = cublas::Operation::OP_T;
    sq.qk.m = s;
    sq.qk.n = s;
    sq.qk.k = MLA_QK;
    sq.qk.a = k.data_as<uint16_t>() + t0 * heads * MLA_QK;
    sq.qk.lda = heads * MLA_QK;
    sq.qk.stride_a = MLA_QK;
    sq.qk.b = q.data_as<uint16_t>() + t0 * heads * MLA_QK;
    sq.qk.ldb = heads * MLA_QK;
    sq.qk.stride_b = MLA_QK;
    sq.qk.c = scores.data();
    sq.qk.ldc = s;
    sq.qk.stride_c = s * s;
    sq.qk.batch = heads;
    sq.qk.c_type = cublas::DataType::R_32F;
    // Row-major out_h = P_h · V_h (S x 128; V_h in kv, columns h*256 + 128 ..), as column-major out_hᵀ = V_hᵀ · P_hᵀ.
    sq.pv.m = MLA_V;
    sq.pv.n = s;
    sq.pv.k = s;
    sq.pv.a = kv.data_as<uint16_t>() + t0 * kv_cols + MLA_NOPE;
    sq.pv.lda = kv_cols;
    sq.pv.stride_a = MLA_WKV_B_ROWS;
    sq.pv.b = probs.data();
    sq.pv.ldb = s;
    sq.pv.stride_b = s * s;
    sq.pv.c = out.data_as<uint16_t>() + t0 * heads * MLA_V;
    sq.pv.ldc = heads * MLA_V;
    sq.pv.stride_c = MLA_V;
    sq.pv.batch = heads;
    sq.pv.c_type = cublas::DataType::R_16BF;
    // One entry of H x S rows, head-major; its LSE is lse[h, t0 + i].
    sq.softmax.scores = scores.data_as<const float>();
    sq.softmax.probs = probs.data_as<uint16_t>();
    sq.softmax.lse = lse.data_as<float>() + t0;
    sq.softmax.heads = heads;
    sq.softmax.queries = s;
    sq.softmax.cols = s;
    sq.softmax.lse_entry_stride = 0;
    sq.softmax.lse_head_stride = tokens;
    sq.softmax.count = 1;
    sq.softmax.scale = scale;
    sq.softmax.causal = causal;
    sq.softmax.head_major = true;
    sq.softmax.lengths[0] = static_cast<int32_t>(s);
    sequences.push_back(sq);
    t0 += s;
  }
  std::shared_ptr<CublasLtContext> lt = cublaslt_context(device, libs.lt);
  std::shared_ptr<CublasContext> context = cublas_context(device, libs.cublas);
  device.enqueue("baseline mla prefill",
                 {{q.storage, latent.storage, k_rope.storage, w.storage}, {out.storage, lse.storage, kv.storage, k.storage, scores.storage, probs.storage}},
                 [lt, context, decompress, assemble, sequences = std::move(sequences), q, latent, k_rope, w, out, lse, kv, k, scores,
                  probs](ExecContext& ctx) {
                   lt->matmul(decompress, ctx.stream);
                   run_assemble(ctx, assemble);
                   // The sequences share the scores and probabilities: the stream orders them.
                   for (const Sequence& s : sequences) {
                     context->strided_batched_gemm(s.qk, ctx.stream);
                     run_softmax(ctx, s.softmax);
                     context->strided_batched_gemm(s.pv, ctx.stream);
                   }
                 });
  return result_to_js(info.Env(), std::move(out), std::move(lse), workspace);
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("baselineMlaDecode", Napi::Function::New<guarded<mla_decode>>(env, "baselineMlaDecode"));
  exports.Set("baselineMlaPrefill", Napi::Function::New<guarded<mla_prefill>>(env, "baselineMlaPrefill"));
  exports.Set("baselineMlaGather", Napi::Function::New<guarded<mla_gather>>(env, "baselineMlaGather"));
  exports.Set("baselineMlaSoftmax", Napi::Function::New<guarded<mla_softmax>>(env, "baselineMlaSoftmax"));
  exports.Set("baselineMlaAssemble", Napi::Function::New<guarded<mla_assemble>>(env, "baselineMlaAssemble"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
