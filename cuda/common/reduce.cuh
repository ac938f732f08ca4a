// Warp and block reductions: max, sum, arg-max and arg-top-k. What they
// combine and the ranking of arg-max / arg-top-k are in reduce_ops.h
// (__host__ __device__, checked on the CPU by tests/native/reduce_check.cc).
//
// Warp reductions are xor butterflies: after the steps with offsets
// LANES / 2, ..., 1 every lane holds the result of its aligned group of
// LANES consecutive lanes (LANES = 32: the whole warp). All 32 lanes must
// call them together (the shuffles name every lane).
//
// arg-top-k is K rounds of a warp arg-max (K <= MAX_TOP_K): each lane
// offers its best candidate not yet taken, the butterfly picks the winner,
// the lane holding it marks it taken. A sorting network would sort all
// 32 x N candidates to keep K of them; repeated arg-max does K x log2(LANES)
// shuffle steps (top 8 of 256 experts, 8 per lane: 40), keeps nothing but a
// bitmask per lane, and ranks exactly by arg_before (ties to the lower index).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "reduce_ops.h"
#include "warp.h"

namespace moekit {

__device__ __forceinline__ float shfl_xor(float v, int offset) { return __shfl_xor_sync(FULL_WARP_MASK, v, offset); }

__device__ __forceinline__ double shfl_xor(double v, int offset) { return __shfl_xor_sync(FULL_WARP_MASK, v, offset); }

__device__ __forceinline__ ArgValue shfl_xor(ArgValue v, int offset) {
  return ArgValue{__shfl_xor_sync(FULL_WARP_MASK, v.value, offset), __shfl_xor_sync(FULL_WARP_MASK, v.index, offset)};
}

// `op` over each aligned group of LANES consecutive lanes (a power of two <= 32), on every lane of the group.
template <int LANES = WARP_SIZE, typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  static_assert(LANES >= 1 && LANES <= WARP_SIZE && (LANES & (LANES - 1)) == 0, "a power-of-two group of lanes");
#pragma unroll
  for (int offset = LANES / 2; offset > 0; offset /= 2) v = op(v, shfl_xor(v, offset));
  return v;
}

template <int LANES = WARP_SIZE>
__device__ __forceinline__ float warp_max(float v) {
  return warp_reduce<LANES>(v, MaxOp{});
}

template <int LANES = WARP_SIZE>
__device__ __forceinline__ float warp_sum(float v) {
  return warp_reduce<LANES>(v, SumOp{});
}

// A sum in double, for sums whose order must not show once the result is
// rounded to f32 (moe.route's softmax denominator).
struct SumF64Op {
  __device__ __forceinline__ double operator()(double a, double b) const { return a + b; }
};

template <int LANES = WARP_SIZE>
__device__ __forceinline__ double warp_sum(double v) {
  return warp_reduce<LANES>(v, SumF64Op{});
}

template <int LANES = WARP_SIZE>
__device__ __forceinline__ ArgValue warp_arg_max(ArgValue v) {
  return warp_reduce<LANES>(v, ArgMaxOp{});
}

// `op` over all NUM_THREADS threads of the block, returned to every thread:
// a warp butterfly, one value per warp through `scratch` (NUM_THREADS / 32
// floats of shared memory), then every thread folds the warps' values in
// warp order. One barrier: scratch must not be written again before the
// next one. Every thread of the block must call it.
template <int NUM_THREADS, typename Op>
__device__ __forceinline__ float block_reduce(float v, Op op, float* scratch) {
  static_assert(NUM_THREADS % WARP_SIZE == 0 && NUM_THREADS <= 1024, "a block of whole warps");
  constexpr int WARPS = NUM_THREADS / WARP_SIZE;
  v = warp_reduce(v, op);
  if (threadIdx.x % WARP_SIZE == 0) scratch[threadIdx.x / WARP_SIZE] = v;
  __syncthreads();
  float r = scratch[0];
#pragma unroll
  for (int w = 1; w < WARPS; ++w) r = op(r, scratch[w]);
  return r;
}

template <int NUM_THREADS>
__device__ __forceinline__ float block_max(float v, float* scratch) {
  return block_reduce<NUM_THREADS>(v, MaxOp{}, scratch);
}

template <int NUM_THREADS>
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  return block_reduce<NUM_THREADS>(v, SumOp{}, scratch);
}

// The K best of the N candidates each lane of a LANES group holds, best
// first (ranks past the number of real candidates are arg_none()); `top`
// comes out the same on every lane of the group. Pad unused slots with
// arg_none(); real indices must be unique within the group.
template <int K, int N, int LANES = WARP_SIZE>
__device__ __forceinline__ void warp_arg_top_k(const ArgValue (&candidates)[N], ArgValue (&top)[K]) {
  static_assert(K >= 1 && K <= MAX_TOP_K, "K rounds of arg-max: K <= MAX_TOP_K");
  uint32_t taken = 0;
#pragma unroll
  for (int r = 0; r < K; ++r) {
    top[r] = warp_arg_max<LANES>(lane_arg_max(candidates, taken));
    taken = take_winner(candidates, taken, top[r].index);
  }
}

}  // namespace moekit
