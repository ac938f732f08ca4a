// moe.groupedGemm: binding and CUDA version table (interface: grouped_gemm.h).
#include <napi.h>

#include <cstdint>
#include <string>

#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../binding/tensor_handle.h"
#include "../../common/fp8_block.h"
#include "../../common/math.h"
#include "../dispatch.h"
#include "../registry.h"
#include "grouped_gemm.h"

namespace moekit {

// The CUDA versions, v1 first; `verified_on` and `emulated_on` as in every
// table (see native/ops/moe/route.cc). v3 needs sm_90a machine code.
const std::vector<KernelVersion<GroupedGemmParams>>& grouped_gemm_versions() {
  // Never destroyed: queue threads may still launch from it during exit.
  static const auto& versions = *new std::vector<KernelVersion<GroupedGemmParams>>{
#ifdef MOEKIT_WITH_CUDA
      {"v1", "SIMT GEMM (gemm v1 / fp8Gemm v1) with the grouped tile scheduler", 80, 0, "", "", "sm80,sm89,sm90a", grouped_gemm_v1_unsupported,
       grouped_gemm_v1},
      {"v2", "mma.sync multistage mainloop (gemm v2 / fp8Gemm v2) with the grouped tile scheduler", 80, 0, "", "", "sm80,sm89,sm90a",
       grouped_gemm_v2_unsupported, grouped_gemm_v2},
      {"v3", "FP8 e4m3, sm_90a: TMA + wgmma persistent mainloop (fp8Gemm v3) with the grouped tile scheduler", 90, 90, "90a", "", "sm90a",
       grouped_gemm_v3_unsupported, grouped_gemm_v3},
#endif
  };
  return versions;
}

namespace {

std::string str(int64_t v) { return std::to_string(v); }

bool present(const Napi::CallbackInfo& info, size_t i) { return !info[i].IsNull() && !info[i].IsUndefined(); }

// groupedGemm(xValues, xScales | null, wValues, wScales | null, layout, offsets | null, counts | null,
//             rowScale | null, outDtype, impl, swiglu) -> out
Napi::Value grouped_gemm(const Napi::CallbackInfo& info) {
  const char* op = "moe.groupedGemm";
  const bool fp8 = present(info, 1);
  const TensorRef x = arg_tensor(info, 0, op, fp8 ? "x.values" : "x");
  const TensorRef w = arg_tensor(info, 2, op, present(info, 3) ? "w.values" : "w");
  const std::string layout = arg_string(info, 4, op, "layout");
  const DType out_dtype = arg_dtype(info, 8, op, "options.outDtype");
  const std::string impl = arg_string(info, 9, op, "options.impl");
  const bool swiglu = arg_bool(info, 10, op, "options.swiglu");
  if (layout != "contiguous" && layout != "masked") throw_type_error(op, "layout", "'contiguous' or 'masked'", "'" + layout + "'");
  const bool masked = layout == "masked";

  // Operand dtypes: both FP8 (quantized) or both the same float dtype.
  TensorRef xs, ws;
  if (fp8) {
    if (!present(info, 3)) throw_type_error(op, "w", "a Quantized (128x128 blocks) like x", "a tensor of " + quoted(w.dtype));
    xs = arg_tensor(info, 1, op, "x.scales");
    ws = arg_tensor(info, 3, op, "w.scales");
    if (!dtype_is_fp8(x.dtype)) throw_type_error(op, "x.values.dtype", "'e4m3' or 'e5m2'", quoted(x.dtype));
    if (!dtype_is_fp8(w.dtype)) throw_type_error(op, "w.values.dtype", "'e4m3' or 'e5m2'", quoted(w.dtype));
    expect_dtype(xs, DType::F32, op, "x.scales");
    expect_dtype(ws, DType::F32, op, "w.scales");
    if (out_dtype != DType::BF16 && out_dtype != DType::F32) throw_type_error(op, "options.outDtype", "'bf16' or 'f32'", quoted(out_dtype));
  } else {
    if (present(info, 3)) throw_type_error(op, "w", "a tensor of " + quoted(x.dtype) + " like x", "a Quantized");
    if (x.dtype != DType::BF16 && x.dtype != DType::F16 && x.dtype != DType::F32) {
      throw_type_error(op, "x.dtype", "'bf16', 'f16' or 'f32' (or a Quantized)", quoted(x.dtype));
    }
    if (w.dtype != x.dtype) throw_type_error(op, "w.dtype", quoted(x.dtype) + " (the dtype of x)", quoted(w.dtype));
    if (out_dtype != DType::BF16 && out_dtype != DType::F16 && out_dtype != DType::F32) {
      throw_type_error(op, "options.outDtype", "'bf16', 'f16' or 'f32'", quoted(out_dtype));
    }
  }

  // Shapes: w [E, N, K]; x [P, K] (contiguous) or [E, maxRows, K] (masked).
  const char* w_name = fp8 ? "w.values" : "w";
  const char* x_name = fp8 ? "x.values" : "x";
  expect_rank(w, 3, op, w_name);
  const int64_t E = w.dim(0), K = w.dim(2);
  if (E < 1 || E > INT32_MAX - 1) throw_range_error(op, std::string(w_name) + ".shape", "[E, N, K] with E in [1, 2^31 - 2]", shape_string(w.shape));
  // SwiGLU: w holds [gate; up] rows, [E, 2N, K], and the output N columns.
  if (swiglu && w.dim(1) % 2 != 0) {
    throw_range_error(op, std::string(w_name) + ".shape", "[E, 2N, K] with an even 2N (gate rows, then up rows) for options.swiglu",
                      shape_string(w.shape));
  }
  const int64_t N = swiglu ? w.dim(1) / 2 : w.dim(1);
  if (swiglu && fp8 && N % FP8_SCALE_BLOCK != 0) {
    throw_range_error(op, "w.values.shape", "[E, 2N, K] with N a multiple of 128 for FP8 with options.swiglu (no 128x128 block may mix gate and up rows)",
                      shape_string(w.shape));
  }
  expect_rank(x, masked ? 3 : 2, op, x_name);
  const int64_t x_k = x.dim(x.rank() - 1);
  if (x_k != K) throw_range_error(op, std::string(x_name) + ".shape", "a last dimension of " + str(K) + " (K of w)", shape_string(x.shape));
  if (masked && x.dim(0) != E) {
    throw_range_error(op, std::string(x_name) + ".shape", "[E, maxRows, K] with E = " + str(E) + " (the experts of w)", shape_string(x.shape));
  }
  const int64_t rows = masked ? x.dim(0) * x.dim(1) : x.dim(0);
  const int64_t max_rows = masked ? x.dim(1) : 0;
  const int64_t kb = ceil_div<int64_t>(K, FP8_SCALE_BLOCK);
  if (fp8) {
    Shape want = x.shape;
    want.back() = kb;
    expect_shape(xs, want, op, "x.scales", "1x128 blocks of x (quantize x with block [1, 128])");
    expect_shape(ws, {E, ceil_div<int64_t>(w.dim(1), FP8_SCALE_BLOCK), kb}, op, "w.scales",
                 "128x128 blocks of each expert's [N, K] (quantize w with block [128, 128])");
  }

  // The layout: offsets [E + 1] (+ counts [E]) or counts [E].
  TensorRef offsets, counts, row_scale;
  if (masked) {
    if (!present(info, 6)) throw_type_error(op, "counts", "an i32 tensor [E] (rows of each expert)", "nothing");
  } else {
    offsets = arg_tensor(info, 5, op, "offsets");
    expect_dtype(offsets, DType::I32, op, "offsets");
    expect_shape(offsets, {E + 1}, op, "offsets", "one more than the experts of w");
  }
  if (present(info, 6)) {
    counts = arg_tensor(info, 6, op, masked ? "counts" : "options.counts");
    expect_dtype(counts, DType::I32, op, masked ? "counts" : "options.counts");
    expect_shape(counts, {E}, op, masked ? "counts" : "options.counts", "one per expert of w");
  }
  if (present(info, 7)) {
    row_scale = arg_tensor(info, 7, op, "options.rowScale");
    expect_dtype(row_scale, DType::F32, op, "options.rowScale");
    Shape rows_shape(x.shape.begin(), x.shape.end() - 1);
    Shape rows_shape_1 = rows_shape;
    rows_shape_1.push_back(1);
    if (row_scale.shape != rows_shape && row_scale.shape != rows_shape_1) {
      throw_range_error(op, "options.rowScale.shape", shape_string(rows_shape) + " or " + shape_string(rows_shape_1) + " (one per row of x)",
                        shape_string(row_scale.shape));
    }
  }
  const std::pair<const TensorRef*, const char*> operands[] = {{&xs, "x.scales"}, {&w, w_name}, {&ws, "w.scales"},
                                                               {&offsets, "offsets"}, {&counts, "counts"}, {&row_scale, "options.rowScale"}};
  std::vector<StoragePtr> inputs{x.storage};
  for (const auto& [t, name] : operands) {
    if (!t->storage) continue;
    expect_same_device(x, *t, op, x_name, name);
    inputs.push_back(t->storage);
  }

  Device& device = x.device();
  Shape out_shape(x.shape.begin(), x.shape.end() - 1);
  out_shape.push_back(N);
  TensorRef out = allocate_tensor(device, out_dtype, out_shape, op, swiglu ? "the output (x's rows, half the rows of w)" : "the output (x's rows, N of w)");
  ExpertGroups groups;
  groups.layout = masked ? GroupLayout::Masked : GroupLayout::Contiguous;
  groups.offsets = offsets.storage ? offsets.data_as<int32_t>() : nullptr;
  groups.counts = counts.storage ? counts.data_as<int32_t>() : nullptr;
  groups.experts = static_cast<int32_t>(E);
  groups.max_rows = max_rows;
  const float* rs = row_scale.storage ? row_scale.data_as<float>() : nullptr;

  GroupedGemmParams p{};
  p.fp8 = fp8;
  if (fp8) {
    p.fp8_gemm = Fp8GemmParams{x.data_as<uint8_t>(), xs.data_as<float>(), w.data_as<uint8_t>(), ws.data_as<float>(), out.data(), rows, N, K, kb,
                               x.dtype, w.dtype, out_dtype, device.info().sm_count, groups, rs, swiglu};
  } else {
    p.gemm = GemmParams{x.data(), w.data(), out.data(), rows, N, K, x.dtype, out_dtype, groups, rs, swiglu};
  }
  // Rows no expert computes read as zeros: the output starts zeroed.
  if (out.nbytes() > 0) {
    device.enqueue(op, {{}, {out.storage}}, [out](ExecContext& ctx) { ctx.device.fill_bytes(ctx, out.data(), 0, out.nbytes()); });
  }
  enqueue_op(device, op, {inputs, {out.storage}}, grouped_gemm_versions(), impl, grouped_gemm_cpu, p);
  return TensorHandle::wrap(info.Env(), std::move(out));
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("moeGroupedGemm", Napi::Function::New<guarded<grouped_gemm>>(env, "moeGroupedGemm"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
MOEKIT_REGISTER_VERSIONS("moe.groupedGemm", moekit::grouped_gemm_versions)
