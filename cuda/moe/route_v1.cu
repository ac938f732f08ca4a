// moe.route on CUDA. See native/ops/moe/route.h for the gate, the ranking
// and the limits; the CPU twin is native/cpu/moe/route.cc, the tests
// tests/moe/route.test.ts, the bench bench/moe/route.bench.ts.
//   v1: a warp per token, one kernel, no host synchronisation. Expert
//       e = j * 32 + lane sits in slot j of its lane (coalesced loads); the
//       warp computes the f32 scores (in double, as the twin), writes scores
//       and biased scores to its shared memory, scores groups a lane per
//       group, keeps a group when fewer than top_groups groups rank before
//       it, then runs K rounds of the warp arg-max of reduce.cuh over the
//       kept experts. Lane k writes pick k and adds it to counts with an
//       integer atomic (exact, so deterministic). Any sm >= 80.
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/check.h"
#include "../common/grid.h"
#include "../common/launch.cuh"
#include "../common/reduce.cuh"
#include "../../native/ops/moe/route.h"

namespace moekit {

namespace {

constexpr int ROUTE_WARPS = 4;  // tokens in flight per block, a warp each
constexpr int ROUTE_THREADS = ROUTE_WARPS * WARP_SIZE;

static_assert(MAX_ROUTE_TOP_K <= MAX_TOP_K, "K rounds of reduce.cuh's warp arg-max");
static_assert(MAX_ROUTE_EXPERTS % WARP_SIZE == 0 && MAX_ROUTE_EXPERTS / WARP_SIZE <= 32, "a lane's slots must fit the 32-bit taken mask");

// One warp's view of its token: what lanes read of each other's experts.
struct RouteWarpShared {
  float score[MAX_ROUTE_EXPERTS];        // unbiased f32 scores (the weights)
  float biased[MAX_ROUTE_EXPERTS];       // score + bias (the choice)
  float group_score[MAX_ROUTE_EXPERTS];  // per group
  uint8_t kept[MAX_ROUTE_EXPERTS];       // per group
};

static_assert(sizeof(RouteWarpShared) * ROUTE_WARPS <= 48 * 1024, "static shared memory is limited to 48 KiB");

__device__ __forceinline__ float sigmoid_score(float x) { return static_cast<float>(1.0 / (1.0 + exp(-static_cast<double>(x)))); }

// N slots per lane: N * 32 >= experts.
template <int N>
__global__ void __launch_bounds__(ROUTE_THREADS) route_v1_kernel(const RouteParams p) {
  __shared__ RouteWarpShared shared[ROUTE_WARPS];
  const int lane = threadIdx.x % WARP_SIZE;
  const int warp = threadIdx.x / WARP_SIZE;
  RouteWarpShared& sh = shared[warp];
  const int E = p.experts;
  const int K = p.top_k;
  const int G = E / p.groups;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * ROUTE_WARPS;

  for (int64_t t = static_cast<int64_t>(blockIdx.x) * ROUTE_WARPS + warp; t < p.tokens; t += warps) {
    const float* x = p.logits + t * E;

    // Scores.
    float score[N];
    if (p.scoring == RouteScoring::SIGMOID) {
#pragma unroll
      for (int j = 0; j < N; ++j) {
        const int e = j * WARP_SIZE + lane;
        score[j] = e < E ? sigmoid_score(x[e]) : 0.0f;
      }
    } else {
      float xv[N];
      float m = -INFINITY;
#pragma unroll
      for (int j = 0; j < N; ++j) {
        const int e = j * WARP_SIZE + lane;
        xv[j] = e < E ? x[e] : -INFINITY;
        m = fmaxf(m, xv[j]);
      }
      m = warp_max(m);
      double ex[N];
      double sum = 0.0;
#pragma unroll
      for (int j = 0; j < N; ++j) {
        const int e = j * WARP_SIZE + lane;
        ex[j] = e < E ? exp(static_cast<double>(xv[j]) - static_cast<double>(m)) : 0.0;
        sum += ex[j];
      }
      sum = warp_sum(sum);
#pragma unroll
      for (int j = 0; j < N; ++j) score[j] = static_cast<float>(ex[j] / sum);
    }
    float biased[N];
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const int e = j * WARP_SIZE + lane;
      biased[j] = score[j];
      if (e < E) {
        if (p.bias) biased[j] = score[j] + p.bias[e];
        sh.score[e] = score[j];
        sh.biased[e] = biased[j];
      }
    }
    __syncwarp();

    // Groups: a lane per group scores it, then ranks it against all groups.
    if (p.groups > 1) {
      for (int g = lane; g < p.groups; g += WARP_SIZE) {
        ArgValue best = arg_none();
        ArgValue second = arg_none();
        for (int e = g * G; e < (g + 1) * G; ++e) {
          const ArgValue c{sh.biased[e], e};
          if (arg_before(c, best)) {
            second = best;
            best = c;
          } else if (arg_before(c, second)) {
            second = c;
          }
        }
        sh.group_score[g] = p.scoring == RouteScoring::SIGMOID && G >= 2 ? best.value + second.value : best.value;
      }
      __syncwarp();
      for (int g = lane; g < p.groups; g += WARP_SIZE) {
        const ArgValue mine{sh.group_score[g], g};
        int before = 0;
        for (int h = 0; h < p.groups; ++h) before += arg_before(ArgValue{sh.group_score[h], h}, mine) ? 1 : 0;
        sh.kept[g] = before < p.top_groups ? 1 : 0;
      }
      __syncwarp();
    }

    // Top-K of the kept experts: K rounds of the warp arg-max.
    ArgValue candidates[N];
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const int e = j * WARP_SIZE + lane;
      const bool kept = e < E && (p.groups == 1 || sh.kept[e / G] != 0);
      candidates[j] = kept ? ArgValue{biased[j], e} : arg_none();
    }
    uint32_t taken = 0;
    int32_t pick = 0;  // lane k < K: the k-th best expert
    for (int r = 0; r < K; ++r) {
      const ArgValue top = warp_arg_max(lane_arg_max(candidates, taken));
      taken = take_winner(candidates, taken, top.index);
      if (lane == r) pick = top.index;
    }

    // Weights: the unbiased scores of the picks, their sum in double in pick order (as the twin).
    double sum = 0.0;
    for (int k = 0; k < K; ++k) sum += static_cast<double>(sh.score[__shfl_sync(FULL_WARP_MASK, pick, k)]);
    if (lane < K) {
      double w = static_cast<double>(sh.score[pick]);
      if (p.normalize) w /= sum + 1e-20;
      p.ids[t * K + lane] = pick;
      p.weights[t * K + lane] = static_cast<float>(w * p.scale);
      atomicAdd(p.counts + pick, 1);
    }
    __syncwarp();  // the next token overwrites this warp's shared memory
  }
}

template <int N>
void launch_route(const RouteParams& p, cudaStream_t stream) {
  launch_kernel("route_v1_kernel", route_v1_kernel<N>, grid_stride_blocks(p.tokens, ROUTE_WARPS), ROUTE_THREADS, 0, stream, p);
}

}  // namespace

void route_v1(const RouteParams& p, cudaStream_t stream) {
  MOEKIT_CUDA_CHECK(cudaMemsetAsync(p.counts, 0, sizeof(int32_t) * static_cast<size_t>(p.experts), stream));
  if (p.tokens == 0) return;
  const int slots = (p.experts + WARP_SIZE - 1) / WARP_SIZE;
  if (slots <= 1) {
    launch_route<1>(p, stream);
  } else if (slots <= 2) {
    launch_route<2>(p, stream);
  } else if (slots <= 4) {
    launch_route<4>(p, stream);
  } else if (slots <= 8) {
    launch_route<8>(p, stream);
  } else {
    static_assert(MAX_ROUTE_EXPERTS <= 16 * WARP_SIZE, "16 slots per lane cover every supported expert count");
    launch_route<16>(p, stream);
  }
}

}  // namespace moekit
