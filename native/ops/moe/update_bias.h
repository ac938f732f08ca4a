// moe.updateBias: the aux-loss-free load balancing step of DeepSeek-V3
// (arXiv 2412.19437 §2.1.2; docs/architecture.md, "Numeric conventions"):
//
//   out_i = bias_i + rate * sign(mean(counts) - counts_i),   sign(0) = 0
//
// in f32 (rate rounded to f32 once). The sign is taken exactly, from
// integers: sign(mean - c_i) = sign(sum_j c_j - E * c_i) in int64, so no
// rounding of the mean can flip it. rate * sign is exact, so out_i is one
// f32 addition.
//
//   v1: one block sums the counts (int64), then updates every bias
//
//   kernels:  cuda/moe/update_bias_v1.cu
//   CPU twin: native/cpu/moe/update_bias.cc
//   tests:    tests/moe/update_bias.test.ts
#pragma once

#include <cstdint>

#include "../../common/stream.h"

namespace moekit {

// Counts are i32, so with E below 2^31 the sum and E * c_i stay within int64.
constexpr int64_t MAX_UPDATE_BIAS_EXPERTS = 0x7FFFFFFF;

struct UpdateBiasParams {
  const float* bias;      // [experts] f32
  const int32_t* counts;  // [experts] i32
  float* out;             // [experts] f32
  int64_t experts;
  float rate;
};

void update_bias_cpu(const UpdateBiasParams& p);
void update_bias_v1(const UpdateBiasParams& p, cudaStream_t stream);

}  // namespace moekit
