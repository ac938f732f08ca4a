// quantize / dequantize bindings (native/ops/fp8/quantize.h).
#include <napi.h>

#include "../../common/math.h"
#include "quantize.h"
#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../dispatch.h"
#include "../registry.h"

namespace moekit {

// The CUDA versions, v1 first. `verified_on` lists the architectures where
// a version passed the CUDA tests on a real GPU; change it only after such
// a run. A version never run on a GPU has "" and is reachable only by name.
// `emulated_on` lists the emulation profiles on which its CUDA tests passed
// (npm run emulate, which says when a passing profile is missing from it);
// it never makes a version eligible for auto.
const std::vector<KernelVersion<QuantizeParams>>& quantize_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<QuantizeParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "warp per 1x128 block, block per 128x128 tile", 80, 0, "", "", "sm80,sm89,sm90a", always_supported<QuantizeParams>, quantize_v1},
      {"v2", "16-byte vector loads, tile held in registers", 80, 0, "", "", "sm80,sm89,sm90a", quantize_v2_unsupported, quantize_v2},
#endif
  };
  return versions;
}

const std::vector<KernelVersion<DequantizeParams>>& dequantize_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<DequantizeParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "a thread per element", 80, 0, "", "", "sm80,sm89,sm90a", always_supported<DequantizeParams>, dequantize_v1},
#endif
  };
  return versions;
}

namespace {

QuantBlock parse_block(const std::string& s, const char* op) {
  if (s == "row128") return QuantBlock::ROW_128;
  if (s == "tile128") return QuantBlock::TILE_128;
  if (s == "tensor") return QuantBlock::TENSOR;
  throw_type_error(op, "block", "'row128', 'tile128' or 'tensor'", "'" + s + "'");
}

DType parse_fp8(const std::string& s, const char* op, const char* name) {
  const DType d = parse_dtype(s, op, name);
  if (!dtype_is_fp8(d)) throw_type_error(op, name, "'e4m3' or 'e5m2'", "'" + s + "'");
  return d;
}

// [batch, rows, cols] view of a shape for a block kind, and the scales' shape.
struct QuantLayout {
  int64_t batch = 1, rows = 1, cols = 1;
  Shape scales;
};

QuantLayout layout_for(const Shape& shape, QuantBlock block, const char* op, const char* arg) {
  QuantLayout l;
  const size_t r = shape.size();
  if (block == QuantBlock::TENSOR) {
    l.cols = shape_numel(shape);
    l.scales = {1};
    return l;
  }
  if (block == QuantBlock::ROW_128) {
    if (r < 1) throw_range_error(op, std::string(arg) + ".shape", "of rank >= 1 for 1x128 blocks", shape_string(shape));
    l.cols = shape[r - 1];
    l.rows = shape_numel(Shape(shape.begin(), shape.end() - 1));
    l.scales = Shape(shape.begin(), shape.end() - 1);
    l.scales.push_back(ceil_div<int64_t>(l.cols, FP8_SCALE_BLOCK));
    return l;
  }
  if (r < 2) throw_range_error(op, std::string(arg) + ".shape", "of rank >= 2 for 128x128 blocks", shape_string(shape));
  l.cols = shape[r - 1];
  l.rows = shape[r - 2];
  l.batch = shape_numel(Shape(shape.begin(), shape.end() - 2));
  l.scales = Shape(shape.begin(), shape.end() - 2);
  l.scales.push_back(ceil_div<int64_t>(l.rows, FP8_SCALE_BLOCK));
  l.scales.push_back(ceil_div<int64_t>(l.cols, FP8_SCALE_BLOCK));
  return l;
}

// quantize(x, format, block, ue8m0, impl) -> [values, scales]
Napi::Value quantize(const Napi::CallbackInfo& info) {
  const char* op = "quantize";
  const TensorRef x = arg_tensor(info, 0, op, "x");
  const DType format = parse_fp8(arg_string(info, 1, op, "options.format"), op, "options.format");
  const QuantBlock block = parse_block(arg_string(info, 2, op, "options.block"), op);
  const bool ue8m0 = arg_bool(info, 3, op, "options.ue8m0");
  const std::string impl = arg_string(info, 4, op, "options.impl");
  if (x.dtype != DType::F32 && x.dtype != DType::BF16 && x.dtype != DType::F16) {
    throw_type_error(op, "x.dtype", "'f32', 'bf16' or 'f16'", std::string("'") + dtype_name(x.dtype) + "'");
  }
  const QuantLayout l = layout_for(x.shape, block, op, "x");
  Device& device = x.device();
  TensorRef values = allocate_tensor(device, format, x.shape, op, "the values");
  TensorRef scales = allocate_tensor(device, DType::F32, l.scales, op, "the scales");
  TensorRef scratch;
  if (block == QuantBlock::TENSOR && device.kind() == DeviceKind::Cuda) scratch = allocate_tensor(device, DType::F32, {1}, op, "the amax scratch");
  QuantizeParams p{x.data(), values.data_as<uint8_t>(), scales.data_as<float>(), scratch.storage ? scratch.data_as<float>() : nullptr,
                   x.dtype, format, block, ue8m0, l.batch, l.rows, l.cols};
  std::vector<StoragePtr> written{values.storage, scales.storage};
  if (scratch.storage) written.push_back(scratch.storage);
  enqueue_op(device, op, {{x.storage}, written}, quantize_versions(), impl, quantize_cpu, p);
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, TensorHandle::wrap(info.Env(), std::move(values)));
  out.Set(1u, TensorHandle::wrap(info.Env(), std::move(scales)));
  return out;
}

// Checks FP8 values and f32 scales against a block layout.
QuantLayout check_quantized(const TensorRef& values, const TensorRef& scales, QuantBlock block, const char* op, const char* values_name,
                            const char* scales_name) {
  if (!dtype_is_fp8(values.dtype)) {
    throw_type_error(op, std::string(values_name) + ".dtype", "'e4m3' or 'e5m2'", std::string("'") + dtype_name(values.dtype) + "'");
  }
  expect_dtype(scales, DType::F32, op, scales_name);
  expect_same_device(values, scales, op, values_name, scales_name);
  QuantLayout l = layout_for(values.shape, block, op, values_name);
  if (scales.shape != l.scales) {
    throw_range_error(op, std::string(scales_name) + ".shape", shape_string(l.scales) + " for values of shape " + shape_string(values.shape),
                      shape_string(scales.shape));
  }
  return l;
}

// checkQuantized(values, scales, block): throws when they do not fit together.
Napi::Value check_quantized_js(const Napi::CallbackInfo& info) {
  const char* op = "asQuantized";
  const TensorRef& values = arg_tensor(info, 0, op, "values");
  const TensorRef& scales = arg_tensor(info, 1, op, "scales");
  check_quantized(values, scales, parse_block(arg_string(info, 2, op, "options.block"), op), op, "values", "scales");
  return info.Env().Undefined();
}

// dequantize(values, scales, block, outDtype) -> tensor
Napi::Value dequantize(const Napi::CallbackInfo& info) {
  const char* op = "dequantize";
  const TensorRef values = arg_tensor(info, 0, op, "q.values");
  const TensorRef scales = arg_tensor(info, 1, op, "q.scales");
  const QuantBlock block = parse_block(arg_string(info, 2, op, "q.block"), op);
  const DType out_dtype = arg_dtype(info, 3, op, "options.dtype");
  if (out_dtype != DType::F32 && out_dtype != DType::BF16 && out_dtype != DType::F16) {
    throw_type_error(op, "options.dtype", "'f32', 'bf16' or 'f16'", std::string("'") + dtype_name(out_dtype) + "'");
  }
  const QuantLayout l = check_quantized(values, scales, block, op, "q.values", "q.scales");
  Device& device = values.device();
  TensorRef out = allocate_tensor(device, out_dtype, values.shape, op, "the output");
  DequantizeParams p{values.data_as<uint8_t>(), scales.data_as<float>(), out.data(), values.dtype, out_dtype, block, l.batch, l.rows, l.cols};
  enqueue_op(device, op, {{values.storage, scales.storage}, {out.storage}}, dequantize_versions(), "auto", dequantize_cpu, p);
  return TensorHandle::wrap(info.Env(), std::move(out));
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("quantize", Napi::Function::New<guarded<quantize>>(env, "quantize"));
  exports.Set("dequantize", Napi::Function::New<guarded<dequantize>>(env, "dequantize"));
  exports.Set("checkQuantized", Napi::Function::New<guarded<check_quantized_js>>(env, "checkQuantized"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("quantize", moekit::quantize_versions)
MOEKIT_REGISTER_VERSIONS("dequantize", moekit::dequantize_versions)
