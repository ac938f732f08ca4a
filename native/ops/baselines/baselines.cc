// cuBLAS baselines for benchmarks and cross-checks: bf16/f16 GEMM and FP8
// GEMM (per-tensor or 1x128/128x128 block scales) through cuBLASLt, found
// at run time (native/baselines/cublaslt_loader.h). They take the same
// operands as moekit's own GEMMs and run on a device's queue like any op.
#include <napi.h>

#include <cstdint>
#include <limits>
#include <string>

#include "fp8_scale_layout.h"
#include "../../common/fp8_block.h"
#include "../../common/math.h"
#include "../../baselines/cublaslt_loader.h"
#include "../../baselines/cublaslt_matmul.h"
#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../device/registry.h"
#include "../registry.h"

namespace moekit {

namespace {

constexpr const char* GEMM_OP = "baselines.gemm";
constexpr const char* FP8_OP = "baselines.fp8Gemm";
// cuBLASLt FP8 on Hopper: 16-byte aligned pointers and dimensions (cuBLASLt documentation, cublasLtMatmul FP8 requirements).
constexpr int64_t FP8_DIM_MULTIPLE = 16;
constexpr uintptr_t FP8_POINTER_ALIGNMENT = 16;
// Compute capabilities (major * 10 + minor).
constexpr int FP8_MIN_CC = 89;
constexpr int BLOCK_SCALING_CC_MAJOR = 9;

enum class Feature { Gemm, Fp8Tensor, Fp8Block };
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
  if (!gpu) {
    if (device_id.empty()) return "no CUDA device: " + cuda_probe().unavailable_reason;
    return "the cuBLAS baselines run on CUDA devices, not on " + device_id + "; move the tensors with .to('cuda')";
  }
  const int cc = gpu->cc_major * 10 + gpu->cc_minor;
  const std::string gpu_text = gpu->id + " (" + gpu->name + ", compute capability " + cc_text(*gpu) + ")";
  if (feature != Feature::Gemm && cc < FP8_MIN_CC) return "FP8 matmul needs compute capability 8.9 or newer; " + gpu_text + " has less";
  if (feature == Feature::Fp8Block && gpu->cc_major != BLOCK_SCALING_CC_MAJOR) {
    return "cuBLASLt runs 1x128/128x128 block-scaled FP8 on compute capability 9.0 (Hopper) only; " + gpu_text + " is not";
  }
  return "";
}

// The loaded library when `feature` can run on `device`; else throws
// Error(Unsupported) saying why and how to fix it.
CublasLtLibrary require_feature(const char* op, Feature feature, Device& device) {
  CublasLtLibrary library = cublaslt_library();
  DeviceInfo info;
  const DeviceInfo* gpu = nullptr;
  if (device.kind() == DeviceKind::Cuda) {
    info = device.info();
    gpu = &info;
  }
  const std::string why = feature_blocker(feature, library, gpu, device.id());
  if (!why.empty()) throw_unsupported(std::string(op) + ": " + why);
  return library;
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
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", library.api != nullptr);
  o.Set("library", library.path);
  o.Set("version", static_cast<double>(library.version));
  o.Set("versionText", library.api ? cublaslt_version_text(library.version) : "");
  o.Set("reason", library.reason);
  o.Set("device", gpu ? Napi::Value(Napi::String::New(env, gpu->id)) : env.Null());
  o.Set("gemm", feature_to_js(env, feature_blocker(Feature::Gemm, library, gpu, device_id)));
  o.Set("fp8Tensor", feature_to_js(env, feature_blocker(Feature::Fp8Tensor, library, gpu, device_id)));
  o.Set("fp8Block", feature_to_js(env, feature_blocker(Feature::Fp8Block, library, gpu, device_id)));
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

struct Fp8Operands {
  TensorRef a, a_scales, b, b_scales;
  int64_t m = 0, n = 0, k = 0;
  int64_t k_blocks = 0, n_blocks = 0, k_blocks_padded = 0;
};

// Reads and checks what both FP8 entry points share: e4m3 values A [M, K]
// and B [N, K], f32 scales, one device, and the sizes cuBLASLt's FP8 takes.
Fp8Operands arg_fp8_operands(const Napi::CallbackInfo& info, const char* op) {
  Fp8Operands o;
  o.a = arg_tensor(info, 0, op, "a.values");
  o.a_scales = arg_tensor(info, 1, op, "a.scales");
  o.b = arg_tensor(info, 2, op, "b.values");
  o.b_scales = arg_tensor(info, 3, op, "b.scales");
  expect_dtype(o.a, DType::E4M3, op, "a.values");
  expect_dtype(o.b, DType::E4M3, op, "b.values");
  expect_dtype(o.a_scales, DType::F32, op, "a.scales");
  expect_dtype(o.b_scales, DType::F32, op, "b.scales");
  expect_rank(o.a, 2, op, "a.values");
  expect_rank(o.b, 2, op, "b.values");
  o.m = o.a.dim(0);
  o.k = o.a.dim(1);
  o.n = o.b.dim(0);
  if (o.b.dim(1) != o.k) {
    throw_range_error(op, "b.values.shape",
                      "[N, " + std::to_string(o.k) + "] (b is [N, K] with the K of a.values, which is " + shape_string(o.a.shape) + ")",
                      shape_string(o.b.shape));
  }
  expect_same_device(o.a, o.b, op, "a.values", "b.values");
  expect_same_device(o.a, o.a_scales, op, "a.values", "a.scales");
  expect_same_device(o.a, o.b_scales, op, "a.values", "b.scales");
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
  const Fp8Operands o = arg_fp8_operands(info, op);
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
  device.enqueue("baseline scale layout", {{o.a_scales.storage, o.b_scales.storage}, {a_lt.storage, b_lt.storage}}, [p, a_s = o.a_scales, b_s = o.b_scales, a_lt, b_lt](ExecContext& ctx) {
    if (ctx.device.kind() == DeviceKind::Cpu) {
      fp8_scale_layout_cpu(p);
    } else {
#ifdef MOEKIT_WITH_CUDA
      fp8_scale_layout_v1(p, ctx.stream);
#else
      throw_unsupported("baselines.fp8Gemm: this build has no CUDA kernels");
#endif
    }
  });
  return handles_to_js(info.Env(), o.a, a_lt, o.b, b_lt);
}

// baselineFp8Gemm(aValues, aScalesLt, bValues, bScalesLt, mode, outDtype)
// -> C = (A·Bᵀ) with the scales applied; the scales as baselineFp8Prepare
// returned them.
Napi::Value baseline_fp8_gemm(const Napi::CallbackInfo& info) {
  const char* op = FP8_OP;
  const Fp8Operands o = arg_fp8_operands(info, op);
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
  if (o.m > 0 && o.n > 0 && o.k > 0) {
    for (const void* p : {o.a.data(), o.b.data(), c.data(), o.a_scales.data(), o.b_scales.data()}) {
      if (reinterpret_cast<uintptr_t>(p) % FP8_POINTER_ALIGNMENT != 0) {
        throw_unsupported(std::string(op) + ": cuBLASLt's FP8 matmul needs 16-byte aligned buffers");
      }
    }
  }
  enqueue_matmul(device, library, o.a, o.b, c, mode == Fp8Mode::Block ? LtScaling::Block : LtScaling::Tensor, &o.a_scales,
                 &o.b_scales);
  return TensorHandle::wrap(info.Env(), std::move(c));
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("baselineStatus", Napi::Function::New<guarded<baseline_status>>(env, "baselineStatus"));
  exports.Set("baselineGemm", Napi::Function::New<guarded<baseline_gemm>>(env, "baselineGemm"));
  exports.Set("baselineFp8Prepare", Napi::Function::New<guarded<baseline_fp8_prepare>>(env, "baselineFp8Prepare"));
  exports.Set("baselineFp8Gemm", Napi::Function::New<guarded<baseline_fp8_gemm>>(env, "baselineFp8Gemm"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
