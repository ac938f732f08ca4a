// fp8_scale_layout: moekit's FP8 block scales (docs/architecture.md, "Numeric conventions") laid
// out the way cuBLASLt's block-scaled FP8 matmul reads them, so the cuBLAS
// baseline can run on the same quantized operands as moekit's kernels. It
// is the preparation step of the baseline, kept out of what benchmarks time.
//   kernel:   cuda/baselines/fp8_scale_layout.cu
//   CPU twin: native/baselines/fp8_scale_layout.cc
//   tests:    tests/baselines/cublas.test.ts
//   bench:    none (preparation, not the measured baseline)
//
// For C[M,N] = A[M,K]·B[N,K]ᵀ the baseline hands cuBLASLt B as its "A"
// operand (BLK128x128_32F scaling) and A as its "B" operand (VEC128_32F),
// the layout PyTorch's scaled_mm passes to cuBLASLt for blockwise FP8:
//   activations, moekit [M, KB] row-major  ->  [KB, M]: each 128-column
//     block's M scales contiguous ("outer-dim-major", strides (1, M));
//   weights, moekit [NB, KB] row-major     ->  [NB, round_up(KB, 4)]: the
//     same K-contiguous rows, each padded with zeros to a 16-byte multiple.
// KB = ceil(K/128), NB = ceil(N/128).
#pragma once

#include <cstdint>

namespace moekit {

// cuBLASLt wants each row of 128x128 block scales to start 16 bytes apart.
constexpr int64_t LT_BLOCK_SCALE_ROW_FLOATS = 4;

struct Fp8ScaleLayoutParams {
  const float* a_scales;  // [m, k_blocks] row-major, f32: 1x128 activation scales
  float* a_scales_lt;     // [k_blocks, m] row-major, f32
  const float* b_scales;  // [n_blocks, k_blocks] row-major, f32: 128x128 weight scales
  float* b_scales_lt;     // [n_blocks, k_blocks_padded] row-major, f32; padding columns are 0
  int64_t m;
  int64_t n_blocks;
  int64_t k_blocks;
  int64_t k_blocks_padded;  // k_blocks rounded up to LT_BLOCK_SCALE_ROW_FLOATS
};

void fp8_scale_layout_cpu(const Fp8ScaleLayoutParams& p);
void fp8_scale_layout_v1(const Fp8ScaleLayoutParams& p, void* stream);  // stream: cudaStream_t

}  // namespace moekit
