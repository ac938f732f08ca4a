// quantize / dequantize on the CPU: the reference for cuda/fp8/quantize_v1.cu.
// Straight loops in the order of the math (see native/ops/fp8/quantize.h).
#include "../../ops/fp8/quantize.h"

#include <algorithm>
#include <cmath>

#include "../../common/float_convert.h"
#include "../../common/math.h"
#include "../../ops/fp8/scale_math.h"
#include "../../core/thread_pool.h"

namespace moekit {

namespace {

uint8_t encode_fp8(float v, DType format) {
  return static_cast<uint8_t>(format == DType::E4M3 ? encode_narrow<Narrow::E4M3>(v, true) : encode_narrow<Narrow::E5M2>(v, true));
}

float decode_fp8(uint8_t q, DType format) {
  return format == DType::E4M3 ? decode_narrow<Narrow::E4M3>(q) : decode_narrow<Narrow::E5M2>(q);
}

// Quantizes x[i] for i in [begin, end) of a row-major range with one scale.
void quantize_span(const QuantizeParams& p, int64_t begin, int64_t end, float scale) {
  const float inv = fp8_inverse_scale(scale);
  for (int64_t i = begin; i < end; ++i) p.values[i] = encode_fp8(load_as_float(p.x, p.x_dtype, i) * inv, p.format);
}

float span_amax(const QuantizeParams& p, int64_t begin, int64_t end) {
  float amax = 0.0f;
  for (int64_t i = begin; i < end; ++i) amax = std::fmax(amax, std::fabs(load_as_float(p.x, p.x_dtype, i)));
  return amax;
}

}  // namespace

void quantize_cpu(const QuantizeParams& p) {
  const int64_t kblocks = ceil_div(p.cols, FP8_SCALE_BLOCK);
  const int64_t total = p.batch * p.rows * p.cols;
  switch (p.block) {
    case QuantBlock::ROW_128:
      parallel_for(p.batch * p.rows, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          for (int64_t kb = 0; kb < kblocks; ++kb) {
            const int64_t begin = r * p.cols + kb * FP8_SCALE_BLOCK;
            const int64_t end = r * p.cols + std::min(p.cols, (kb + 1) * FP8_SCALE_BLOCK);
            const float scale = fp8_block_scale(span_amax(p, begin, end), p.format, p.ue8m0);
            p.scales[r * kblocks + kb] = scale;
            quantize_span(p, begin, end, scale);
          }
        }
      });
      break;
    case QuantBlock::TILE_128: {
      const int64_t rblocks = ceil_div(p.rows, FP8_SCALE_BLOCK);
      parallel_for(p.batch * rblocks * kblocks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t b = t / (rblocks * kblocks);
          const int64_t rb = (t / kblocks) % rblocks;
          const int64_t kb = t % kblocks;
          const int64_t r_end = std::min(p.rows, (rb + 1) * FP8_SCALE_BLOCK);
          const int64_t c_begin = kb * FP8_SCALE_BLOCK;
          const int64_t c_end = std::min(p.cols, (kb + 1) * FP8_SCALE_BLOCK);
          float amax = 0.0f;
          for (int64_t r = rb * FP8_SCALE_BLOCK; r < r_end; ++r) {
            const int64_t row = (b * p.rows + r) * p.cols;
            amax = std::fmax(amax, span_amax(p, row + c_begin, row + c_end));
          }
          const float scale = fp8_block_scale(amax, p.format, p.ue8m0);
          p.scales[t] = scale;
          for (int64_t r = rb * FP8_SCALE_BLOCK; r < r_end; ++r) {
            const int64_t row = (b * p.rows + r) * p.cols;
            quantize_span(p, row + c_begin, row + c_end, scale);
          }
        }
      });
      break;
    }
    case QuantBlock::TENSOR: {
      // Per-chunk maxima, then their maximum: max is exact in any order.
      constexpr int64_t CHUNK = 1 << 16;
      std::vector<float> partial(static_cast<size_t>(ceil_div<int64_t>(std::max<int64_t>(total, 1), CHUNK)), 0.0f);
      parallel_for(static_cast<int64_t>(partial.size()), 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) partial[static_cast<size_t>(c)] = span_amax(p, c * CHUNK, std::min(total, (c + 1) * CHUNK));
      });
      float amax = 0.0f;
      for (float a : partial) amax = std::fmax(amax, a);
      const float scale = fp8_block_scale(amax, p.format, p.ue8m0);
      p.scales[0] = scale;
      parallel_for(total, CHUNK, [&](int64_t i0, int64_t i1) { quantize_span(p, i0, i1, scale); });
      break;
    }
  }
}

void dequantize_cpu(const DequantizeParams& p) {
  const int64_t kblocks = ceil_div(p.cols, FP8_SCALE_BLOCK);
  const int64_t rblocks = ceil_div(p.rows, FP8_SCALE_BLOCK);
  const int64_t total = p.batch * p.rows * p.cols;
  parallel_for(total, 1 << 15, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t col = i % p.cols;
      const int64_t row = (i / p.cols) % p.rows;
      const int64_t b = i / (p.cols * p.rows);
      float scale = p.scales[0];
      if (p.block == QuantBlock::ROW_128) scale = p.scales[(b * p.rows + row) * kblocks + col / FP8_SCALE_BLOCK];
      if (p.block == QuantBlock::TILE_128) scale = p.scales[(b * rblocks + row / FP8_SCALE_BLOCK) * kblocks + col / FP8_SCALE_BLOCK];
      store_from_double(p.out, p.out_dtype, i, decode_fp8(p.values[i], p.format) * scale);
    }
  });
}

}  // namespace moekit
