// cuBLAS baselines for benchmarks and cross-checks: bf16/f16 GEMM and FP8
// GEMM (per-tensor or 1x128/128x128 block scales) through cuBLASLt, and the
// MoE grouped GEMM (a per-expert loop of cuBLASLt matmuls, or cuBLAS's
// cublasGemmGroupedBatchedEx), found at run time (the unfused MLA
// baselines are in mla.cc)
// (native/baselines/cublaslt_loader.h, cublas_loader.h). They take the same
// operands as moekit's own GEMMs and run on a device's queue like any op.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fp8_scale_layout.h"
#include "shared.h"
#include "../../common/fp8_block.h"
#include "../../common/math.h"
#include "../../core/size_math.h"
#include "../../baselines/cublas_grouped.h"
#include "../../baselines/cublas_loader.h"
#include "../../baselines/cublaslt_loader.h"
#include "../../baselines/cublaslt_matmul.h"
#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../device/registry.h"
#include "../registry.h"

namespace moekit {

std::string no_gpu_blocker(const std::string& device_id) {
  if (device_id.empty()) return "no CUDA device: " + cuda_probe().unavailable_reason;
  return "the cuBLAS baselines run on CUDA devices, not on " + device_id + "; move the tensors with .to('cuda')";
}

std::vector<int64_t> arg_int_array(const Napi::CallbackInfo& info, size_t i, const char* op, const std::string& name, size_t length,
                                   const std::string& length_text) {
  Napi::Value v = i < info.Length() ? info[i] : info.Env().Undefined();
  if (!v.IsArray()) throw_type_error(op, name, "an array of " + length_text + " integers", describe_value(v));
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != length) throw_range_error(op, name + ".length", length_text, std::to_string(a.Length()));
  std::vector<int64_t> out(length);
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value d = a.Get(k);
    const std::string where = name + "[" + std::to_string(k) + "]";
    if (!d.IsNumber()) throw_type_error(op, where, "a non-negative integer", describe_value(d));
    const double x = d.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(x) || x != std::floor(x) || x < 0 || x > 9007199254740992.0) {
      throw_range_error(op, where, "a non-negative integer", number_text(x));
    }
    out[k] = static_cast<int64_t>(x);
  }
  return out;
}

namespace {

constexpr const char* GEMM_OP = "baselines.gemm";
constexpr const char* FP8_OP = "baselines.fp8Gemm";
constexpr const char* GROUPED_OP = "baselines.groupedGemm";
constexpr const char* FP8_GROUPED_OP = "baselines.fp8GroupedGemm";
// cuBLASLt FP8 on Hopper: 16-byte aligned pointers and dimensions (cuBLASLt documentation, cublasLtMatmul FP8 requirements).
constexpr int64_t FP8_DIM_MULTIPLE = 16;
constexpr uintptr_t FP8_POINTER_ALIGNMENT = 16;
// Compute capabilities (major * 10 + minor).
constexpr int FP8_MIN_CC = 89;
constexpr int BLOCK_SCALING_CC_MAJOR = 9;

enum class Feature { Gemm, Fp8Tensor, Fp8Block };
enum class GroupedMode { Loop, Grouped };

// Why fp8GroupedGemm has no mode 'grouped'.
constexpr const char* FP8_GROUPED_BLOCKER =
    "cuBLAS has no grouped GEMM for 1x128/128x128 block-scaled FP8: cublasGemmGroupedBatchedEx takes no FP8 scales, and "
    "these baselines do not use cuBLASLt's experimental grouped batch mode; use mode 'loop' (a block-scaled cuBLASLt "
    "matmul per expert)";
enum class Fp8Mode { Tensor, Block };


std::string cc_text(const DeviceInfo& d) { return std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor); }

// Why `feature` cannot run on `gpu` ('' when it can). `gpu` is null when
// the device asked about is not a CUDA device (then `device_id` names it,
// or is empty when there is no CUDA device at all).
std::string feature_blocker(Feature feature, const CublasLtLibrary& library, const DeviceInfo* gpu,
                            const std::string& device_id) {
  // The library comes first: what it lacks no GPU makes up for.
  if (!library.api) return library.reason;
  if (feature == Feature::Fp8Block && library.version < cublaslt::BLOCK_SCALING_MIN_VERSION) {
    return "1x128/128x128 block-scaled FP8 needs cuBLAS 12.9 or newer; the loaded cuBLASLt is " +
           cublaslt_version_text(library.version) + " (" + library.path + ")";
  }
  if (!gpu) return no_gpu_blocker(device_id);
  const int cc = gpu->cc_major * 10 + gpu->cc_minor;
  const std::string gpu_text = gpu->id + " (" + gpu->name + ", compute capability " + cc_text(*gpu) + ")";
  if (feature != Feature::Gemm && cc < FP8_MIN_CC) return "FP8 matmul needs compute capability 8.9 or newer; " + gpu_text + " has less";
  if (feature == Feature::Fp8Block && gpu->cc_major != BLOCK_SCALING_CC_MAJOR) {
    return "cuBLASLt runs 1x128/128x128 block-scaled FP8 on compute capability 9.0 (Hopper) only; " + gpu_text + " is not";
  }
  return "";
}

// Why cublasGemmGroupedBatchedEx cannot run on `gpu` ('' when it can);
// `gpu` and `device_id` as for feature_blocker.
std::string grouped_blocker(const CublasLibrary& library, const DeviceInfo* gpu, const std::string& device_id) {
  if (!library.api) return library.reason;
  if (!library.api->gemm_grouped_batched_ex) {
    return "cublasGemmGroupedBatchedEx needs cuBLAS 12.5 or newer; the loaded cuBLAS is " + cublaslt_version_text(library.version) +
           " (" + library.path + ") and lacks it";
  }
  if (!gpu) return no_gpu_blocker(device_id);
  return "";
}

// The CUDA device `device` is, or null.
const DeviceInfo* cuda_info(Device& device, DeviceInfo& storage) {
  if (device.kind() != DeviceKind::Cuda) return nullptr;
  storage = device.info();
  return &storage;
}

// The loaded cuBLAS when its grouped GEMM can run on `device`; else throws
// Error(Unsupported) saying why and how to fix it.
CublasLibrary require_grouped(const char* op, Device& device) {
  CublasLibrary library = cublas_library();
  DeviceInfo info;
  const std::string why = grouped_blocker(library, cuda_info(device, info), device.id());
  if (!why.empty()) throw_unsupported(std::string(op) + ": " + why);
  return library;
}

// The loaded library when `feature` can run on `device`; else throws
// Error(Unsupported) saying why and how to fix it.
CublasLtLibrary require_feature(const char* op, Feature feature, Device& device) {
  CublasLtLibrary library = cublaslt_library();
  DeviceInfo info;
  const std::string why = feature_blocker(feature, library, cuda_info(device, info), device.id());
  if (!why.empty()) throw_unsupported(std::string(op) + ": " + why);
  return library;
}

// available, library, version, versionText and reason of a loaded (or
// missing) CublasLtLibrary or CublasLibrary.
template <typename Library>
Napi::Object library_to_js(Napi::Env env, const Library& library) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", library.api != nullptr);
  o.Set("library", library.path);
  o.Set("version", static_cast<double>(library.version));
  o.Set("versionText", library.api ? cublaslt_version_text(library.version) : "");
  o.Set("reason", library.reason);
  return o;
}

Napi::Object feature_to_js(Napi::Env env, const std::string& blocker) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", blocker.empty());
  o.Set("reason", blocker);
  return o;
}

// baselineStatus(device: string | null)
Napi::Value baseline_status(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string device_id;
  if (info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull()) device_id = arg_string(info, 0, "baselines.status", "device");
  const DeviceInfo* gpu = nullptr;
  const auto& gpus = cuda_probe().devices;
  for (const auto& d : gpus) {
    if (device_id.empty() || d.id == device_id) {
      gpu = &d;
      break;
    }
  }
  const CublasLtLibrary library = cublaslt_library();
  Napi::Object o = library_to_js(env, library);
  o.Set("device", gpu ? Napi::Value(Napi::String::New(env, gpu->id)) : env.Null());
  o.Set("gemm", feature_to_js(env, feature_blocker(Feature::Gemm, library, gpu, device_id)));
  o.Set("fp8Tensor", feature_to_js(env, feature_blocker(Feature::Fp8Tensor, library, gpu, device_id)));
  o.Set("fp8Block", feature_to_js(env, feature_blocker(Feature::Fp8Block, library, gpu, device_id)));
  const CublasLibrary cublas = cublas_library();
  Napi::Object c = library_to_js(env, cublas);
  c.Set("groupedGemmEx", cublas.api != nullptr && cublas.api->gemm_grouped_batched_ex != nullptr);
  o.Set("cublas", c);
  o.Set("groupedGemm", feature_to_js(env, grouped_blocker(cublas, gpu, device_id)));
  c.Set("stridedBatchedEx", cublas.api != nullptr && cublas.api->gemm_strided_batched_ex != nullptr);
  o.Set("mla", feature_to_js(env, mla_blocker(library, cublas, gpu, device_id)));
  o.Set("fp8GroupedGemm", feature_to_js(env, FP8_GROUPED_BLOCKER));
  return o;
}

// cuBLASLt describes matrices with 32-bit sizes in practice.
void expect_int32_sizes(const char* op, int64_t m, int64_t n, int64_t k) {
  constexpr int64_t limit = std::numeric_limits<int32_t>::max();
  if (m > limit || n > limit || k > limit) {
    throw_unsupported(std::string(op) + ": cuBLASLt takes M, N and K up to " + std::to_string(limit) + ", got M=" +
                      std::to_string(m) + ", N=" + std::to_string(n) + ", K=" + std::to_string(k));
  }
}

cublaslt::DataType lt_type(DType t) {
  switch (t) {
    case DType::F32: return cublaslt::R_32F;
    case DType::F16: return cublaslt::R_16F;
    case DType::BF16: return cublaslt::R_16BF;
    case DType::E4M3: return cublaslt::R_8F_E4M3;
    case DType::E5M2: return cublaslt::R_8F_E5M2;
    default: break;
  }
  throw Error(ErrorCode::Kernel, std::string("no cuBLASLt type for ") + dtype_name(t));
}

// Enqueues C = A·Bᵀ through cuBLASLt, or zeros when K is 0 (nothing to sum).
void enqueue_matmul(Device& device, const CublasLtLibrary& library, const TensorRef& a, const TensorRef& b,
                    const TensorRef& c, LtScaling scaling, const TensorRef* a_scales, const TensorRef* b_scales) {
  LtMatmulProblem p;
  p.m = a.dim(0);
  p.k = a.dim(1);
  p.n = b.dim(0);
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) {
    device.enqueue("baseline gemm", {{a.storage, b.storage}, {c.storage}}, [c](ExecContext& ctx) { ctx.device.fill_bytes(ctx, c.data(), 0, c.nbytes()); });
    return;
  }
  p.a = a.data();
  p.b = b.data();
  p.c = c.data();
  p.ab_type = lt_type(a.dtype);
  p.c_type = lt_type(c.dtype);
  p.scaling = scaling;
  TensorRef a_s, b_s;
  if (a_scales && b_scales) {
    a_s = *a_scales;
    b_s = *b_scales;
    p.a_scales = a_s.data_as<const float>();
    p.b_scales = b_s.data_as<const float>();
  }
  std::shared_ptr<CublasLtContext> context = cublaslt_context(device, library);
  // The task holds every buffer it reads or writes until it has been issued.
  TaskIO io{{a.storage, b.storage}, {c.storage}};
  if (a_s.storage) io.inputs.push_back(a_s.storage);
  if (b_s.storage) io.inputs.push_back(b_s.storage);
  device.enqueue("baseline gemm", std::move(io), [context, p, a, b, c, a_s, b_s](ExecContext& ctx) { context->matmul(p, ctx.stream); });
}

// baselineGemm(a, b, outDtype) -> C = A·Bᵀ
Napi::Value baseline_gemm(const Napi::CallbackInfo& info) {
  const char* op = GEMM_OP;
  const TensorRef a = arg_tensor(info, 0, op, "a");
  const TensorRef b = arg_tensor(info, 1, op, "b");
  const DType out_dtype = arg_dtype(info, 2, op, "outDtype");
  if (a.dtype != DType::BF16 && a.dtype != DType::F16) throw_type_error(op, "a.dtype", "'bf16' or 'f16'", quoted(a.dtype));
  expect_dtype(b, a.dtype, op, "b");
  expect_rank(a, 2, op, "a");
  expect_rank(b, 2, op, "b");
  const int64_t m = a.dim(0), k = a.dim(1), n = b.dim(0);
  if (b.dim(1) != k) {
    throw_range_error(op, "b.shape", "[N, " + std::to_string(k) + "] (b is [N, K] with the K of a, which is " + shape_string(a.shape) + ")",
                      shape_string(b.shape));
  }
  expect_same_device(a, b, op, "a", "b");
  if (out_dtype != DType::F32 && out_dtype != a.dtype) {
    throw_type_error(op, "outDtype", quoted(a.dtype) + " or 'f32' for " + dtype_name(a.dtype) + " inputs", quoted(out_dtype));
  }
  expect_int32_sizes(op, m, n, k);
  Device& device = a.device();
  const CublasLtLibrary library = require_feature(op, Feature::Gemm, device);
  TensorRef c = allocate_tensor(device, out_dtype, {m, n}, op, "the output [M, N]");
  enqueue_matmul(device, library, a, b, c, LtScaling::None, nullptr, nullptr);
  return TensorHandle::wrap(info.Env(), std::move(c));
}

Fp8Mode arg_fp8_mode(const Napi::CallbackInfo& info, size_t i, const char* op) {
  const std::string mode = arg_string(info, i, op, "mode");
  if (mode == "tensor") return Fp8Mode::Tensor;
  if (mode == "block") return Fp8Mode::Block;
  throw_type_error(op, "mode", "'tensor' or 'block'", "'" + mode + "'");
}

// The e4m3 values and f32 scales of an FP8 product's two operands: a [M, K]
// and b [N, K] of the GEMM, or x [P, K] (M = P) and w [E, N, K] of the
// grouped GEMM.
struct Fp8Operands {
  TensorRef a, a_scales, b, b_scales;
  int64_t m = 0, n = 0, k = 0;
  int64_t k_blocks = 0, n_blocks = 0, k_blocks_padded = 0;
};

// Reads and checks what every FP8 entry point shares: the values at
// arguments 0 and 2 (named `a_name`.values, `b_name`.values; b of rank
// `b_rank`, K last), their scales at 1 and 3, one device. The scales'
// shapes are the caller's: they differ before and after preparation.
Fp8Operands arg_fp8_operands(const Napi::CallbackInfo& info, const char* op, const std::string& a_name, const std::string& b_name,
                             int b_rank) {
  const std::string a_values = a_name + ".values", a_scales = a_name + ".scales";
  const std::string b_values = b_name + ".values", b_scales = b_name + ".scales";
  Fp8Operands o;
  o.a = arg_tensor(info, 0, op, a_values.c_str());
  o.a_scales = arg_tensor(info, 1, op, a_scales.c_str());
  o.b = arg_tensor(info, 2, op, b_values.c_str());
  o.b_scales = arg_tensor(info, 3, op, b_scales.c_str());
  expect_dtype(o.a, DType::E4M3, op, a_values.c_str());
  expect_dtype(o.b, DType::E4M3, op, b_values.c_str());
  expect_dtype(o.a_scales, DType::F32, op, a_scales.c_str());
  expect_dtype(o.b_scales, DType::F32, op, b_scales.c_str());
  expect_rank(o.a, 2, op, a_values.c_str());
  expect_rank(o.b, b_rank, op, b_values.c_str());
  o.m = o.a.dim(0);
  o.k = o.a.dim(1);
  o.n = o.b.dim(b_rank - 2);
  if (o.b.dim(b_rank - 1) != o.k) {
    const std::string lead = b_rank == 3 ? "E, " : "";
    throw_range_error(op, b_values + ".shape",
                      "[" + lead + "N, " + std::to_string(o.k) + "] (" + b_name + " is [" + lead + "N, K] with the K of " + a_values +
                          ", which is " + shape_string(o.a.shape) + ")",
                      shape_string(o.b.shape));
  }
  expect_same_device(o.a, o.b, op, a_values.c_str(), b_values.c_str());
  expect_same_device(o.a, o.a_scales, op, a_values.c_str(), a_scales.c_str());
  expect_same_device(o.a, o.b_scales, op, a_values.c_str(), b_scales.c_str());
  o.k_blocks = ceil_div(o.k, FP8_SCALE_BLOCK);
  o.n_blocks = ceil_div(o.n, FP8_SCALE_BLOCK);
  o.k_blocks_padded = round_up(o.k_blocks, LT_BLOCK_SCALE_ROW_FLOATS);
  return o;
}

void expect_fp8_sizes(const char* op, const Fp8Operands& o) {
  if (o.m % FP8_DIM_MULTIPLE != 0 || o.n % FP8_DIM_MULTIPLE != 0 || o.k % FP8_DIM_MULTIPLE != 0) {
    throw_unsupported(std::string(op) + ": cuBLASLt's FP8 matmul needs M, N and K to be multiples of 16 (16-byte aligned rows), got M=" +
                      std::to_string(o.m) + ", N=" + std::to_string(o.n) + ", K=" + std::to_string(o.k));
  }
  expect_int32_sizes(op, o.m, o.n, o.k);
}

// cuBLASLt's FP8 matmul reads every buffer in 16-byte steps.
void expect_fp8_aligned(const char* op, std::initializer_list<const void*> buffers) {
  for (const void* p : buffers) {
    if (reinterpret_cast<uintptr_t>(p) % FP8_POINTER_ALIGNMENT != 0) {
      throw_unsupported(std::string(op) + ": cuBLASLt's FP8 matmul needs 16-byte aligned buffers");
    }
  }
}

// Re-lays one matrix's scales for cuBLASLt (fp8_scale_layout.h) on the
// device the queue runs: the CPU twin, or the CUDA kernel.
void run_scale_layout(ExecContext& ctx, const Fp8ScaleLayoutParams& p, const char* op) {
  if (ctx.device.kind() == DeviceKind::Cpu) {
    fp8_scale_layout_cpu(p);
    return;
  }
#ifdef MOEKIT_WITH_CUDA
  (void)op;
  fp8_scale_layout_v1(p, ctx.stream);
#else
  throw_unsupported(std::string(op) + ": this build has no CUDA kernels");
#endif
}

void expect_tensor_scales(const char* op, const Fp8Operands& o) {
  expect_shape(o.a_scales, {1}, op, "a.scales", "one scale for all of a.values in mode 'tensor'");
  expect_shape(o.b_scales, {1}, op, "b.scales", "one scale for all of b.values in mode 'tensor'");
}

Napi::Array handles_to_js(Napi::Env env, const TensorRef& a, const TensorRef& a_scales, const TensorRef& b, const TensorRef& b_scales) {
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, TensorHandle::wrap(env, a));
  out.Set(1u, TensorHandle::wrap(env, a_scales));
  out.Set(2u, TensorHandle::wrap(env, b));
  out.Set(3u, TensorHandle::wrap(env, b_scales));
  return out;
}

// baselineFp8Prepare(aValues, aScales, bValues, bScales, mode)
//   -> [aValues, aScalesLt, bValues, bScalesLt]: new handles on the values,
// and the scales in cuBLASLt's layout (block mode; the same scales in
// tensor mode). Runs on any device: it is the CPU-checkable half.
Napi::Value baseline_fp8_prepare(const Napi::CallbackInfo& info) {
  const char* op = FP8_OP;
  const Fp8Operands o = arg_fp8_operands(info, op, "a", "b", 2);
  const Fp8Mode mode = arg_fp8_mode(info, 4, op);
  if (mode == Fp8Mode::Tensor) {
    expect_tensor_scales(op, o);
    expect_fp8_sizes(op, o);
    return handles_to_js(info.Env(), o.a, o.a_scales, o.b, o.b_scales);
  }
  expect_shape(o.a_scales, {o.m, o.k_blocks}, op, "a.scales",
               "[M, ceil(K/128)]: one scale per row and 128 columns of a.values, as quantize(x, {block: [1, 128]}) gives");
  expect_shape(o.b_scales, {o.n_blocks, o.k_blocks}, op, "b.scales",
               "[ceil(N/128), ceil(K/128)]: one scale per 128x128 block of b.values, as quantize(w, {block: [128, 128]}) gives");
  expect_fp8_sizes(op, o);
  Device& device = o.a.device();
  TensorRef a_lt = allocate_tensor(device, DType::F32, {o.k_blocks, o.m}, op, "the re-laid A scales");
  TensorRef b_lt = allocate_tensor(device, DType::F32, {o.n_blocks, o.k_blocks_padded}, op, "the re-laid B scales");
  Fp8ScaleLayoutParams p;
  p.a_scales = o.a_scales.data_as<const float>();
  p.a_scales_lt = a_lt.data_as<float>();
  p.b_scales = o.b_scales.data_as<const float>();
  p.b_scales_lt = b_lt.data_as<float>();
  p.m = o.m;
  p.n_blocks = o.n_blocks;
  p.k_blocks = o.k_blocks;
  p.k_blocks_padded = o.k_blocks_padded;
  device.enqueue("baseline scale layout", {{o.a_scales.storage, o.b_scales.storage}, {a_lt.storage, b_lt.storage}},
                 [p, a_s = o.a_scales, b_s = o.b_scales, a_lt, b_lt](ExecContext& ctx) { run_scale_layout(ctx, p, FP8_OP); });
  return handles_to_js(info.Env(), o.a, a_lt, o.b, b_lt);
}

// baselineFp8Gemm(aValues, aScalesLt, bValues, bScalesLt, mode, outDtype)
// -> C = (A·Bᵀ) with the scales applied; the scales as baselineFp8Prepare
// returned them.
Napi::Value baseline_fp8_gemm(const Napi::CallbackInfo& info) {
  const char* op = FP8_OP;
  const Fp8Operands o = arg_fp8_operands(info, op, "a", "b", 2);
  const Fp8Mode mode = arg_fp8_mode(info, 4, op);
  const DType out_dtype = arg_dtype(info, 5, op, "outDtype");
  if (mode == Fp8Mode::Tensor) {
    expect_tensor_scales(op, o);
  } else {
    expect_shape(o.a_scales, {o.k_blocks, o.m}, op, "a.scales", "[ceil(K/128), M]: prepared by baselines.prepareFp8Gemm");
    expect_shape(o.b_scales, {o.n_blocks, o.k_blocks_padded}, op, "b.scales",
                 "[ceil(N/128), ceil(K/128) rounded up to 4]: prepared by baselines.prepareFp8Gemm");
  }
  if (out_dtype != DType::BF16 && out_dtype != DType::F16 && out_dtype != DType::F32) {
    throw_type_error(op, "outDtype", "'bf16', 'f16' or 'f32'", quoted(out_dtype));
  }
  expect_fp8_sizes(op, o);
  Device& device = o.a.device();
  const CublasLtLibrary library = require_feature(op, mode == Fp8Mode::Block ? Feature::Fp8Block : Feature::Fp8Tensor, device);
  TensorRef c = allocate_tensor(device, out_dtype, {o.m, o.n}, op, "the output [M, N]");
  if (o.m > 0 && o.n > 0 && o.k > 0) expect_fp8_aligned(op, {o.a.data(), o.b.data(), c.data(), o.a_scales.data(), o.b_scales.data()});
  enqueue_matmul(device, library, o.a, o.b, c, mode == Fp8Mode::Block ? LtScaling::Block : LtScaling::Tensor, &o.a_scales,
                 &o.b_scales);
  return TensorHandle::wrap(info.Env(), std::move(c));
}

// ---- Grouped GEMM (MoE) -------------------------------------------------------

// The routing of a grouped GEMM, read from the host: expert e owns rows
// offsets[e] .. offsets[e+1]-1 of x and of the output, and computes the
// first rows[e] of them (counts[e], or the whole segment without counts).
struct Segments {
  std::vector<int64_t> offsets;  // [E + 1]: offsets[0] = 0, non-decreasing, offsets[E] <= P
  std::vector<int64_t> rows;     // [E]: rows computed per expert, <= the segment's size
  // Row ranges [first, second) of the output no expert computes (segment
  // padding, rows from offsets[E] on), adjacent ones merged: written zero.
  std::vector<std::pair<int64_t, int64_t>> padding;
};

// segments.offsets at argument `i`, segments.counts (an array, or null) at
// `i + 1`, for `experts` experts over `total_rows` rows.
Segments arg_segments(const Napi::CallbackInfo& info, size_t i, const char* op, int64_t experts, int64_t total_rows) {
  Segments s;
  const auto e_count = static_cast<size_t>(experts);
  s.offsets = arg_int_array(info, i, op, "segments.offsets", e_count + 1,
                            std::to_string(experts + 1) + " (E + 1, with E = " + std::to_string(experts) + " experts in w)");
  if (s.offsets[0] != 0) throw_range_error(op, "segments.offsets[0]", "0", std::to_string(s.offsets[0]));
  for (size_t e = 0; e < e_count; ++e) {
    if (s.offsets[e + 1] < s.offsets[e]) {
      throw_range_error(op, "segments.offsets[" + std::to_string(e + 1) + "]",
                        "at least segments.offsets[" + std::to_string(e) + "] = " + std::to_string(s.offsets[e]) + " (offsets never decrease)",
                        std::to_string(s.offsets[e + 1]));
    }
  }
  if (s.offsets[e_count] > total_rows) {
    throw_range_error(op, "segments.offsets[" + std::to_string(e_count) + "]",
                      "at most " + std::to_string(total_rows) + " (the rows of x)", std::to_string(s.offsets[e_count]));
  }
  const Napi::Value counts = i + 1 < info.Length() ? info[i + 1] : info.Env().Undefined();
  if (counts.IsNull() || counts.IsUndefined()) {
    for (size_t e = 0; e < e_count; ++e) s.rows.push_back(s.offsets[e + 1] - s.offsets[e]);
  } else {
    s.rows = arg_int_array(info, i + 1, op, "segments.counts", e_count,
                           std::to_string(experts) + " (E, with E = " + std::to_string(experts) + " experts in w)");
    for (size_t e = 0; e < e_count; ++e) {
      const int64_t size = s.offsets[e + 1] - s.offsets[e];
      if (s.rows[e] > size) {
        throw_range_error(op, "segments.counts[" + std::to_string(e) + "]",
                          "at most " + std::to_string(size) + ", the size of segment " + std::to_string(e) + " (segments.offsets[" +
                              std::to_string(e + 1) + "] - segments.offsets[" + std::to_string(e) + "])",
                          std::to_string(s.rows[e]));
      }
    }
  }
  auto add_padding = [&s](int64_t first, int64_t end) {
    if (first >= end) return;
    if (!s.padding.empty() && s.padding.back().second == first) s.padding.back().second = end;
    else s.padding.emplace_back(first, end);
  };
  for (size_t e = 0; e < e_count; ++e) add_padding(s.offsets[e] + s.rows[e], s.offsets[e + 1]);
  add_padding(s.offsets[e_count], total_rows);
  return s;
}

GroupedMode arg_grouped_mode(const Napi::CallbackInfo& info, size_t i, const char* op) {
  const std::string mode = arg_string(info, i, op, "mode");
  if (mode == "loop") return GroupedMode::Loop;
  if (mode == "grouped") return GroupedMode::Grouped;
  throw_type_error(op, "mode", "'loop' or 'grouped'", "'" + mode + "'");
}

// Writes zeros over the output rows no expert computes (all of them when K is 0).
void zero_padding(ExecContext& ctx, const TensorRef& out, const Segments& s, bool all_rows) {
  auto* base = static_cast<unsigned char*>(out.data());
  if (all_rows) {
    ctx.device.fill_bytes(ctx, base, 0, out.nbytes());
    return;
  }
  const auto row_bytes = static_cast<size_t>(out.dim(1)) * dtype_size(out.dtype);
  for (const auto& [first, end] : s.padding) {
    ctx.device.fill_bytes(ctx, base + static_cast<size_t>(first) * row_bytes, 0, static_cast<size_t>(end - first) * row_bytes);
  }
}

// One expert's GEMM of a grouped GEMM: its rows of x, its weights and its
// rows of the output.
struct ExpertSlice {
  size_t expert;
  const void* x;
  const void* w;
  void* out;
  int64_t rows;
};

// The experts of `s` with rows to compute, none when K is 0 (the output is
// then all padding). The byte offsets stay inside the tensors (offsets <= P,
// e < E), so they cannot overflow.
std::vector<ExpertSlice> expert_slices(const Segments& s, const TensorRef& x, const TensorRef& w, const TensorRef& out) {
  std::vector<ExpertSlice> slices;
  const auto* x_bytes = static_cast<const unsigned char*>(x.data());
  const auto* w_bytes = static_cast<const unsigned char*>(w.data());
  auto* out_bytes = static_cast<unsigned char*>(out.data());
  const int64_t k = x.dim(1), n = w.dim(1);
  const auto x_row = static_cast<size_t>(k) * dtype_size(x.dtype), w_expert = static_cast<size_t>(n * k) * dtype_size(w.dtype),
             out_row = static_cast<size_t>(n) * dtype_size(out.dtype);
  for (size_t e = 0; k > 0 && e < s.rows.size(); ++e) {
    if (s.rows[e] == 0) continue;
    const auto first = static_cast<size_t>(s.offsets[e]);
    slices.push_back({e, x_bytes + first * x_row, w_bytes + e * w_expert, out_bytes + first * out_row, s.rows[e]});
  }
  return slices;
}

// The cuBLASLt matmul of one expert (unscaled): its rows of out = its rows
// of x · its weightsᵀ, with `ab_type` operands and a bf16 output.
LtMatmulProblem expert_matmul(const ExpertSlice& slice, cublaslt::DataType ab_type, int64_t n, int64_t k) {
  LtMatmulProblem pr;
  pr.a = slice.x;
  pr.b = slice.w;
  pr.c = slice.out;
  pr.ab_type = ab_type;
  pr.c_type = cublaslt::R_16BF;
  pr.m = slice.rows;
  pr.n = n;
  pr.k = k;
  return pr;
}

// baselineGroupedGemm(x, w, offsets, counts | null, mode) -> out [P, N] bf16:
// rows of expert e = x_e · w[e]ᵀ, padding rows zero.
Napi::Value baseline_grouped_gemm(const Napi::CallbackInfo& info) {
  const char* op = GROUPED_OP;
  const TensorRef x = arg_tensor(info, 0, op, "x");
  const TensorRef w = arg_tensor(info, 1, op, "w");
  expect_dtype(x, DType::BF16, op, "x");
  expect_dtype(w, DType::BF16, op, "w");
  expect_rank(x, 2, op, "x");
  expect_rank(w, 3, op, "w");
  const int64_t p_rows = x.dim(0), k = x.dim(1), experts = w.dim(0), n = w.dim(1);
  if (w.dim(2) != k) {
    throw_range_error(op, "w.shape",
                      "[E, N, " + std::to_string(k) + "] (w is [E, N, K] with the K of x, which is " + shape_string(x.shape) + ")",
                      shape_string(w.shape));
  }
  expect_same_device(x, w, op, "x", "w");
  const Segments segments = arg_segments(info, 2, op, experts, p_rows);
  const GroupedMode mode = arg_grouped_mode(info, 4, op);
  expect_int32_sizes(op, p_rows, n, k);
  Device& device = x.device();
  TensorRef out;
  if (mode == GroupedMode::Loop) {
    const CublasLtLibrary library = require_feature(op, Feature::Gemm, device);
    out = allocate_tensor(device, DType::BF16, {p_rows, n}, op, "the output [P, N]");
    if (p_rows == 0 || n == 0) return TensorHandle::wrap(info.Env(), std::move(out));
    std::vector<LtMatmulProblem> problems;
    for (const ExpertSlice& slice : expert_slices(segments, x, w, out)) problems.push_back(expert_matmul(slice, cublaslt::R_16BF, n, k));
    std::shared_ptr<CublasLtContext> context = cublaslt_context(device, library);
    device.enqueue("baseline grouped gemm", {{x.storage, w.storage}, {out.storage}},
                   [context, problems = std::move(problems), segments, x, w, out, k](ExecContext& ctx) {
                     zero_padding(ctx, out, segments, k == 0);
                     for (const LtMatmulProblem& pr : problems) context->matmul(pr, ctx.stream);
                   });
    return TensorHandle::wrap(info.Env(), std::move(out));
  }
  const CublasLibrary library = require_grouped(op, device);
  out = allocate_tensor(device, DType::BF16, {p_rows, n}, op, "the output [P, N]");
  if (p_rows == 0 || n == 0) return TensorHandle::wrap(info.Env(), std::move(out));
  GroupedGemmCall call;
  call.n = n;
  call.k = k;
  call.ab_type = cublas::DataType::R_16BF;
  call.c_type = cublas::DataType::R_16BF;
  for (const ExpertSlice& slice : expert_slices(segments, x, w, out)) call.problems.push_back({slice.x, slice.w, slice.out, slice.rows});
  StoragePtr pointer_arrays;
  if (!call.problems.empty()) {
    pointer_arrays = device.allocate(3 * call.problems.size() * sizeof(uint64_t), AllocOptions(false, false));
    call.pointer_arrays = pointer_arrays->data();
  }
  std::shared_ptr<CublasContext> context = cublas_context(device, library);
  device.enqueue("baseline grouped gemm", {{x.storage, w.storage}, {out.storage}},
                 [context, call = std::move(call), pointer_arrays, segments, x, w, out, k](ExecContext& ctx) {
                   zero_padding(ctx, out, segments, k == 0);
                   if (!call.problems.empty()) context->grouped_gemm(call, ctx.stream);
                 });
  return TensorHandle::wrap(info.Env(), std::move(out));
}

// The FP8 operands of the grouped GEMM (a is x [P, K], m = P; b is w
// [E, N, K]) and the segments that route x's rows to the experts.
struct Fp8GroupedOperands : Fp8Operands {
  int64_t experts = 0;
  Segments segments;
  // Where expert e's activation scales start in the re-laid [sum of
  // round_up(rows[e]·KB, 4)] f32 array (16-byte aligned for cuBLASLt), and its length.
  std::vector<int64_t> x_scale_bases;
  int64_t x_scales_lt_size = 0;
};

// Reads and checks what the FP8 grouped entry points share: the operands
// as arg_fp8_operands reads them (x and w), the segments (at argument 4
// and 5), and the sizes cuBLASLt's FP8 takes.
Fp8GroupedOperands arg_fp8_grouped_operands(const Napi::CallbackInfo& info, const char* op) {
  Fp8GroupedOperands o;
  static_cast<Fp8Operands&>(o) = arg_fp8_operands(info, op, "x", "w", 3);
  o.experts = o.b.dim(0);
  o.segments = arg_segments(info, 4, op, o.experts, o.m);
  int64_t total = 0;
  for (int64_t rows : o.segments.rows) {
    o.x_scale_bases.push_back(total);
    int64_t size = 0;
    // rows <= P and P·KB is the size of x.scales, so neither can overflow; checked all the same.
    if (!checked_mul(rows, o.k_blocks, &size) || !checked_add(total, round_up(size, LT_BLOCK_SCALE_ROW_FLOATS), &total)) {
      throw_range_error(op, "segments", "a layout of at most 2^63 scales", "more");
    }
  }
  o.x_scales_lt_size = total;
  if (o.n % FP8_DIM_MULTIPLE != 0 || o.k % FP8_DIM_MULTIPLE != 0) {
    throw_unsupported(std::string(op) + ": cuBLASLt's FP8 matmul needs N and K to be multiples of 16 (16-byte aligned rows), got N=" +
                      std::to_string(o.n) + ", K=" + std::to_string(o.k));
  }
  expect_int32_sizes(op, o.m, o.n, o.k);
  return o;
}

// baselineFp8GroupedPrepare(xValues, xScales, wValues, wScales, offsets, counts | null)
//   -> [xValues, xScalesLt, wValues, wScalesLt]: new handles on the values,
// and the scales of each expert laid out for cuBLASLt (fp8_scale_layout.h,
// one expert at a time: cuBLASLt reads an expert's activation scales as a
// packed [KB, rows], which a slice of the whole re-laid [KB, P] is not).
// Runs on any device.
Napi::Value baseline_fp8_grouped_prepare(const Napi::CallbackInfo& info) {
  const char* op = FP8_GROUPED_OP;
  const Fp8GroupedOperands o = arg_fp8_grouped_operands(info, op);
  expect_shape(o.a_scales, {o.m, o.k_blocks}, op, "x.scales",
               "[P, ceil(K/128)]: one scale per row and 128 columns of x.values, as quantize(x, {block: [1, 128]}) gives");
  expect_shape(o.b_scales, {o.experts, o.n_blocks, o.k_blocks}, op, "w.scales",
               "[E, ceil(N/128), ceil(K/128)]: one scale per 128x128 block of each expert's weights");
  Device& device = o.a.device();
  TensorRef x_lt = allocate_tensor(device, DType::F32, {o.x_scales_lt_size}, op, "the re-laid x scales");
  TensorRef w_lt = allocate_tensor(device, DType::F32, {o.experts, o.n_blocks, o.k_blocks_padded}, op, "the re-laid w scales");
  std::vector<Fp8ScaleLayoutParams> layouts;
  for (size_t e = 0; e < o.segments.rows.size(); ++e) {
    Fp8ScaleLayoutParams p;
    p.a_scales = o.a_scales.data_as<const float>() + o.segments.offsets[e] * o.k_blocks;
    p.a_scales_lt = x_lt.data_as<float>() + o.x_scale_bases[e];
    p.b_scales = o.b_scales.data_as<const float>() + static_cast<int64_t>(e) * o.n_blocks * o.k_blocks;
    p.b_scales_lt = w_lt.data_as<float>() + static_cast<int64_t>(e) * o.n_blocks * o.k_blocks_padded;
    p.m = o.segments.rows[e];
    p.n_blocks = o.n_blocks;
    p.k_blocks = o.k_blocks;
    p.k_blocks_padded = o.k_blocks_padded;
    layouts.push_back(p);
  }
  device.enqueue("baseline scale layout", {{o.a_scales.storage, o.b_scales.storage}, {x_lt.storage, w_lt.storage}},
                 [layouts = std::move(layouts), x_s = o.a_scales, w_s = o.b_scales, x_lt, w_lt](ExecContext& ctx) {
                   // The gaps that keep each expert 16-byte aligned are zero, not left unwritten.
                   ctx.device.fill_bytes(ctx, x_lt.data(), 0, x_lt.nbytes());
                   for (const Fp8ScaleLayoutParams& p : layouts) run_scale_layout(ctx, p, FP8_GROUPED_OP);
                 });
  return handles_to_js(info.Env(), o.a, x_lt, o.b, w_lt);
}

// baselineFp8GroupedGemm(xValues, xScalesLt, wValues, wScalesLt, offsets, counts | null, mode)
//   -> out [P, N] bf16: per expert, cuBLASLt's block-scaled FP8 matmul of
// its rows; padding rows zero. The scales as baselineFp8GroupedPrepare
// returned them for the same segments.
Napi::Value baseline_fp8_grouped_gemm(const Napi::CallbackInfo& info) {
  const char* op = FP8_GROUPED_OP;
  const Fp8GroupedOperands o = arg_fp8_grouped_operands(info, op);
  expect_shape(o.a_scales, {o.x_scales_lt_size}, op, "x.scales",
               "[sum over experts of round_up(rows * ceil(K/128), 4)]: prepared by baselines.prepareFp8GroupedGemm for these segments");
  expect_shape(o.b_scales, {o.experts, o.n_blocks, o.k_blocks_padded}, op, "w.scales",
               "[E, ceil(N/128), ceil(K/128) rounded up to 4]: prepared by baselines.prepareFp8GroupedGemm");
  const GroupedMode mode = arg_grouped_mode(info, 6, op);
  if (mode == GroupedMode::Grouped) throw_unsupported(std::string(op) + ": mode 'grouped': " + FP8_GROUPED_BLOCKER);
  Device& device = o.a.device();
  const CublasLtLibrary library = require_feature(op, Feature::Fp8Block, device);
  TensorRef out = allocate_tensor(device, DType::BF16, {o.m, o.n}, op, "the output [P, N]");
  if (o.m == 0 || o.n == 0) return TensorHandle::wrap(info.Env(), std::move(out));
  expect_fp8_aligned(op, {o.a.data(), o.b.data(), out.data(), o.a_scales.data(), o.b_scales.data()});
  // Each expert's pointers stay 16-byte aligned: K and N are multiples of
  // 16, the scale bases multiples of 4 floats.
  std::vector<LtMatmulProblem> problems;
  for (const ExpertSlice& slice : expert_slices(o.segments, o.a, o.b, out)) {
    const size_t e = slice.expert;
    LtMatmulProblem pr = expert_matmul(slice, cublaslt::R_8F_E4M3, o.n, o.k);
    pr.scaling = LtScaling::Block;
    pr.a_scales = o.a_scales.data_as<const float>() + o.x_scale_bases[e];
    pr.b_scales = o.b_scales.data_as<const float>() + static_cast<int64_t>(e) * o.n_blocks * o.k_blocks_padded;
    problems.push_back(pr);
  }
  std::shared_ptr<CublasLtContext> context = cublaslt_context(device, library);
  device.enqueue("baseline grouped gemm", {{o.a.storage, o.a_scales.storage, o.b.storage, o.b_scales.storage}, {out.storage}},
                 [context, problems = std::move(problems), segments = o.segments, x = o.a, xs = o.a_scales, w = o.b,
                  ws = o.b_scales, out, k = o.k](ExecContext& ctx) {
                   zero_padding(ctx, out, segments, k == 0);
                   for (const LtMatmulProblem& pr : problems) context->matmul(pr, ctx.stream);
                 });
  return TensorHandle::wrap(info.Env(), std::move(out));
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("baselineStatus", Napi::Function::New<guarded<baseline_status>>(env, "baselineStatus"));
  exports.Set("baselineGemm", Napi::Function::New<guarded<baseline_gemm>>(env, "baselineGemm"));
  exports.Set("baselineFp8Prepare", Napi::Function::New<guarded<baseline_fp8_prepare>>(env, "baselineFp8Prepare"));
  exports.Set("baselineFp8Gemm", Napi::Function::New<guarded<baseline_fp8_gemm>>(env, "baselineFp8Gemm"));
  exports.Set("baselineGroupedGemm", Napi::Function::New<guarded<baseline_grouped_gemm>>(env, "baselineGroupedGemm"));
  exports.Set("baselineFp8GroupedPrepare", Napi::Function::New<guarded<baseline_fp8_grouped_prepare>>(env, "baselineFp8GroupedPrepare"));
  exports.Set("baselineFp8GroupedGemm", Napi::Function::New<guarded<baseline_fp8_grouped_gemm>>(env, "baselineFp8GroupedGemm"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
