// The output of the MoE ops that write whole rows (moe.gather, moe.swiglu):
// the rows themselves, or, with options.quantize, their FP8 values and
// 1x128 block scales as quantize(rows, {block: [1, 128]}) gives them. Both
// ops take the same options and answer the same way, so they share this.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../../core/tensor.h"

namespace moekit {

struct RowOutput {
  bool quantize = false;       // options.quantize was given
  DType format = DType::E4M3;  // the FP8 format when quantizing (E4M3, unused, otherwise)
  TensorRef out;               // [rows, cols]: the rows, or their FP8 values
  TensorRef scales;            // [rows, ceil(cols / 128)] f32 when quantizing, else empty

  // Allocates the output of `rows` rows of `cols` columns: `dtype` rows, or
  // the FP8 values and their scales. `cols_name` ("H", "I") names the
  // columns in messages.
  void allocate(Device& device, DType dtype, int64_t rows, int64_t cols, const char* cols_name, const char* op);
  // What the op's queued work writes.
  std::vector<StoragePtr> written() const;
  // [out], or [values, scales] when quantizing.
  Napi::Array to_js(Napi::Env env) &&;
};

// Checks options.quantize ('' | 'e4m3' | 'e5m2') and options.scaleFormat
// ('ue8m0' only with quantize); nothing is allocated yet, so the op checks
// its other arguments before any memory is taken.
RowOutput row_output_options(const std::string& quantize, bool ue8m0, const char* op);

}  // namespace moekit
