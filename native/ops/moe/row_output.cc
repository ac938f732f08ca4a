#include "row_output.h"

#include "../../binding/args.h"
#include "../../binding/tensor_handle.h"
#include "../../common/error.h"
#include "../../common/fp8_block.h"
#include "../../common/math.h"

namespace moekit {

std::vector<StoragePtr> RowOutput::written() const {
  std::vector<StoragePtr> w{out.storage};
  if (scales.storage) w.push_back(scales.storage);
  return w;
}

Napi::Array RowOutput::to_js(Napi::Env env) && {
  Napi::Array result = Napi::Array::New(env, scales.storage ? 2 : 1);
  result.Set(0u, TensorHandle::wrap(env, std::move(out)));
  if (scales.storage) result.Set(1u, TensorHandle::wrap(env, std::move(scales)));
  return result;
}

RowOutput row_output_options(const std::string& quantize, bool ue8m0, const char* op) {
  RowOutput o;
  o.quantize = !quantize.empty();
  if (o.quantize) {
    o.format = parse_dtype(quantize, op, "options.quantize");
    if (!dtype_is_fp8(o.format)) throw_type_error(op, "options.quantize", "'e4m3' or 'e5m2'", "'" + quantize + "'");
  } else if (ue8m0) {
    throw_type_error(op, "options.scaleFormat", "absent without options.quantize", "'ue8m0'");
  }
  return o;
}

void RowOutput::allocate(Device& device, DType dtype, int64_t rows, int64_t cols, const char* cols_name, const char* op) {
  const std::string shape = std::string("[P, ") + cols_name + "]";
  out = allocate_tensor(device, quantize ? format : dtype, {rows, cols}, op, (quantize ? "the values " : "the output ") + shape);
  if (quantize) {
    scales = allocate_tensor(device, DType::F32, {rows, ceil_div<int64_t>(cols, FP8_SCALE_BLOCK)}, op,
                             std::string("the scales [P, ceil(") + cols_name + " / 128)]");
  }
}

}  // namespace moekit
