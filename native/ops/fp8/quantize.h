// quantize / dequantize: fine-grained FP8 block quantization, the
// DeepSeek-V3 recipe (docs/architecture.md, "Numeric conventions").
//
// For each block: amax = max(max |x|, 1e-4); scale = amax / fmt_max (448 for
// e4m3, 57344 for e5m2), with ue8m0 rounded up to a power of two;
// q = fp8(x * inv) with inv = 1 / scale rounded to f32 once per block (as
// DeepGEMM's reference quantizer; one multiply per element instead of a
// division), then round to nearest even, saturating.
// Dequantization: x' = f32(q) * scale, rounded to the output dtype.
//
// Blocks (x viewed as `batch` matrices of [rows, cols]):
//   ROW_128   1x128 along the last dim; scales f32 [batch*rows, ceil(cols/128)]
//   TILE_128  128x128 over the last two dims; scales f32 [batch, ceil(rows/128), ceil(cols/128)]
//   TENSOR    one scale for the whole tensor; scales f32 [1]
// Ragged edge blocks count only their real elements (zero padding cannot
// raise amax).
//
//   v1: scalar loads, a warp per 1x128 block, a block per 128x128 tile; any layout
//   v2: 16-byte vector loads, elements kept in registers (one read, one write);
//       rows of 16-byte multiples
//
//   kernels:  cuda/fp8/quantize_v1.cu (v1), cuda/fp8/quantize_v2.cu; dequantize: cuda/fp8/dequantize_v1.cu
//   CPU twin: native/cpu/fp8/quantize.cc
//   tests:    tests/fp8/quantize.test.ts
//   bench:    bench/fp8/quantize.bench.ts
#pragma once

#include <cstdint>

#include "../../common/dtype.h"
#include "../../common/fp8_block.h"
#include "../../common/stream.h"

namespace moekit {

enum class QuantBlock { ROW_128, TILE_128, TENSOR };

struct QuantizeParams {
  const void* x;      // [batch, rows, cols] of x_dtype (bf16, f16 or f32)
  uint8_t* values;    // [batch, rows, cols] FP8 codes of `format`
  float* scales;      // see the block layouts above
  float* amax_scratch;  // TENSOR only: one float of device scratch
  DType x_dtype;
  DType format;       // E4M3 or E5M2
  QuantBlock block;
  bool ue8m0;         // power-of-two scales
  int64_t batch;
  int64_t rows;
  int64_t cols;
};

struct DequantizeParams {
  const uint8_t* values;  // [batch, rows, cols]
  const float* scales;
  void* out;              // [batch, rows, cols] of out_dtype (f32, bf16 or f16)
  DType format;
  DType out_dtype;
  QuantBlock block;
  int64_t batch;
  int64_t rows;
  int64_t cols;
};

void quantize_cpu(const QuantizeParams& p);
void dequantize_cpu(const DequantizeParams& p);
void quantize_v1(const QuantizeParams& p, cudaStream_t stream);
void quantize_v2(const QuantizeParams& p, cudaStream_t stream);
const char* quantize_v2_unsupported(const QuantizeParams& p);
void dequantize_v1(const DequantizeParams& p, cudaStream_t stream);

}  // namespace moekit
