// dequantize on CUDA. See native/ops/fp8/quantize.h for the math and layouts.
//   v1: grid-stride loop, a thread per element, its block's scale looked up; any sm >= 80.
// CPU twin: native/cpu/fp8/quantize.cc (dequantize_cpu); tests: tests/fp8/quantize.test.ts.
#include <cuda_runtime.h>

#include "../common/check.h"
#include "../common/launch.cuh"
#include "../common/grid.h"
#include "../../native/common/float_convert.h"
#include "../../native/common/fp8_block.h"
#include "../../native/common/math.h"
#include "../../native/ops/fp8/quantize.h"

namespace moekit {

namespace {

constexpr int DEQUANTIZE_THREADS = 256;
constexpr int DEQUANTIZE_ITEMS_PER_THREAD = 4;

__global__ void dequantize_v1_kernel(const DequantizeParams p, int64_t total) {
  const int64_t kblocks = ceil_div(p.cols, FP8_SCALE_BLOCK);
  const int64_t rblocks = ceil_div(p.rows, FP8_SCALE_BLOCK);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t col = i % p.cols;
    const int64_t row = (i / p.cols) % p.rows;
    const int64_t b = i / (p.cols * p.rows);
    float scale = p.scales[0];
    if (p.block == QuantBlock::ROW_128) scale = p.scales[(b * p.rows + row) * kblocks + col / FP8_SCALE_BLOCK];
    if (p.block == QuantBlock::TILE_128) scale = p.scales[(b * rblocks + row / FP8_SCALE_BLOCK) * kblocks + col / FP8_SCALE_BLOCK];
    const float q = p.format == DType::E4M3 ? decode_narrow<Narrow::E4M3>(p.values[i]) : decode_narrow<Narrow::E5M2>(p.values[i]);
    store_from_double(p.out, p.out_dtype, i, q * scale);
  }
}

}  // namespace

void dequantize_v1(const DequantizeParams& p, cudaStream_t stream) {
  const int64_t total = p.batch * p.rows * p.cols;
  if (total == 0) return;
  launch_kernel("dequantize_v1_kernel", dequantize_v1_kernel, grid_stride_blocks(total, DEQUANTIZE_THREADS * DEQUANTIZE_ITEMS_PER_THREAD), DEQUANTIZE_THREADS, 0, stream, p, total);
}

}  // namespace moekit
