// moe.route on the CPU: the reference for cuda/moe/route_v1.cu. Straight
// loops in the order of the gate (see native/ops/moe/route.h), written apart
// from the kernels' reductions (cuda/common/reduce_ops.h), so that a bug
// there is not copied here.
#include "../../ops/moe/route.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "../../core/thread_pool.h"

namespace moekit {

namespace {

// The ranking of route.h: NaN first, then the larger value, then the lower index.
bool ranks_before(float a, int64_t ia, float b, int64_t ib) {
  const bool a_nan = std::isnan(a);
  const bool b_nan = std::isnan(b);
  if (a_nan != b_nan) return a_nan;
  if (!a_nan && a != b) return a > b;
  return ia < ib;
}

struct Scratch {
  std::vector<float> score, biased, group_score;
  std::vector<char> kept;
  std::vector<int32_t> order;
};

void scores_of(const RouteParams& p, const float* x, std::vector<float>& score) {
  const int E = p.experts;
  if (p.scoring == RouteScoring::SIGMOID) {
    for (int e = 0; e < E; ++e) score[e] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x[e]))));
    return;
  }
  float m = -INFINITY;
  for (int e = 0; e < E; ++e) m = std::fmax(m, x[e]);
  double sum = 0.0;
  for (int e = 0; e < E; ++e) sum += std::exp(static_cast<double>(x[e]) - static_cast<double>(m));
  for (int e = 0; e < E; ++e) score[e] = static_cast<float>(std::exp(static_cast<double>(x[e]) - static_cast<double>(m)) / sum);
}

void route_token(const RouteParams& p, int64_t t, Scratch& s) {
  const int E = p.experts;
  const int K = p.top_k;
  const int G = E / p.groups;
  scores_of(p, p.logits + t * E, s.score);
  for (int e = 0; e < E; ++e) s.biased[e] = p.bias ? s.score[e] + p.bias[e] : s.score[e];

  // Group scores: the best biased score of each group, plus the second best for sigmoid.
  for (int g = 0; g < p.groups; ++g) {
    int best = g * G;
    for (int e = g * G + 1; e < (g + 1) * G; ++e) {
      if (ranks_before(s.biased[e], e, s.biased[best], best)) best = e;
    }
    float group_score = s.biased[best];
    if (p.scoring == RouteScoring::SIGMOID && G >= 2) {
      int second = -1;
      for (int e = g * G; e < (g + 1) * G; ++e) {
        if (e != best && (second < 0 || ranks_before(s.biased[e], e, s.biased[second], second))) second = e;
      }
      group_score = s.biased[best] + s.biased[second];
    }
    s.group_score[g] = group_score;
  }
  // A group is kept when fewer than top_groups groups rank before it.
  for (int g = 0; g < p.groups; ++g) {
    int before = 0;
    for (int h = 0; h < p.groups; ++h) before += ranks_before(s.group_score[h], h, s.group_score[g], g) ? 1 : 0;
    s.kept[g] = before < p.top_groups;
  }

  // Top-K of the kept experts.
  s.order.clear();
  for (int e = 0; e < E; ++e) {
    if (s.kept[e / G]) s.order.push_back(e);
  }
  std::partial_sort(s.order.begin(), s.order.begin() + K, s.order.end(),
                    [&](int32_t a, int32_t b) { return ranks_before(s.biased[a], a, s.biased[b], b); });

  double sum = 0.0;
  for (int k = 0; k < K; ++k) sum += static_cast<double>(s.score[s.order[k]]);
  for (int k = 0; k < K; ++k) {
    const int32_t id = s.order[k];
    double w = static_cast<double>(s.score[id]);
    if (p.normalize) w /= sum + 1e-20;
    p.ids[t * K + k] = id;
    p.weights[t * K + k] = static_cast<float>(w * p.scale);
  }
}

}  // namespace

void route_cpu(const RouteParams& p) {
  parallel_for(p.tokens, 16, [&](int64_t t0, int64_t t1) {
    Scratch s;
    s.score.resize(p.experts);
    s.biased.resize(p.experts);
    s.group_score.resize(p.groups);
    s.kept.resize(p.groups);
    s.order.reserve(p.experts);
    for (int64_t t = t0; t < t1; ++t) route_token(p, t, s);
  });
  std::fill(p.counts, p.counts + p.experts, 0);
  for (int64_t i = 0; i < p.tokens * p.top_k; ++i) ++p.counts[p.ids[i]];
}

}  // namespace moekit
