// moe.route: the DeepSeek-V3 gate (docs/architecture.md, "Numeric
// conventions"; DeepSeek-V3 inference/model.py, `Gate`), for each token t:
//
//   scores   s_e = f32(sigmoid(x_e))                              (scoring SIGMOID)
//            s_e = f32(exp(x_e - m) / sum_j exp(x_j - m)), m = max_j x_j  (scoring SOFTMAX)
//            each computed in double and rounded to f32 once, so that the
//            CPU and every GPU get the same f32 scores (the softmax sum's
//            order does not show in them either);
//   biased   b_e = s_e + bias_e (f32; s_e when there is no bias), used only to choose;
//   groups   experts split into `groups` consecutive groups of G = E / groups;
//            a group's score is the sum of its two best biased scores
//            (top1 + top2 in f32) for SIGMOID, its best for SOFTMAX (and for
//            groups of one expert); the `top_groups` best groups are kept and
//            the experts of the others are never chosen (the reference masks
//            them with -inf);
//   top-K    the K best biased scores among the kept experts, best first;
//   weights  w_k = s_{id_k}, divided by (sum_j s_{id_j} + 1e-20) when
//            `normalize` (the sum in double, in pick order), times `scale`;
//            computed in double, rounded to f32 once.
//
// Ranking, for groups and experts alike: the larger value first, NaN above
// every number (as torch.topk), equal values by the lower index.
// counts[e] = how many (token, pick) chose e (integers, so exact).
//
// Limits: E in [1, MAX_ROUTE_EXPERTS], K in [1, min(MAX_ROUTE_TOP_K, E)],
// groups divides E, top_groups in [1, groups], K <= top_groups * G.
//
//   v1: a warp per token: scores, group scores, masking and K rounds of a warp
//       arg-max (cuda/common/reduce.cuh) in one kernel; counts by integer atomics
//
//   kernels:  cuda/moe/route_v1.cu
//   CPU twin: native/cpu/moe/route.cc
//   tests:    tests/moe/route.test.ts
//   bench:    bench/moe/route.bench.ts
#pragma once

#include <cstdint>

#include "../../common/stream.h"

namespace moekit {

constexpr int MAX_ROUTE_EXPERTS = 512;
constexpr int MAX_ROUTE_TOP_K = 16;

enum class RouteScoring { SIGMOID, SOFTMAX };

struct RouteParams {
  const float* logits;  // [tokens, experts] f32
  const float* bias;    // [experts] f32, or nullptr for no bias
  int32_t* ids;         // [tokens, top_k] i32: chosen experts, best first
  float* weights;       // [tokens, top_k] f32
  int32_t* counts;      // [experts] i32: picks per expert
  int64_t tokens;
  int experts;
  int top_k;
  int groups;
  int top_groups;
  RouteScoring scoring;
  bool normalize;
  double scale;
};

void route_cpu(const RouteParams& p);
void route_v1(const RouteParams& p, cudaStream_t stream);

}  // namespace moekit
