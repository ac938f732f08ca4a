// What the warp and block reductions of reduce.cuh combine, and in which
// order arg-max and arg-top-k rank their candidates. Plain __host__
// __device__ code: tests/native/reduce_check.cc runs it on the CPU, with a
// warp's shuffles emulated in loops, against references written apart.
//
// Ranking (arg_before): the larger value first; NaN above every number (as
// torch.topk ranks it, so a NaN router score shows instead of vanishing);
// equal values (+0 and -0 are equal, and so are two NaNs) by the lower
// index. With distinct indices that is a strict total order, so the winner
// of a reduction is the same in any order and any tree shape: every lane of
// a shuffle butterfly ends with the same candidate.
#pragma once

#include <cmath>
#include <cstdint>

#include "../../native/common/hd.h"

// Loops over a lane's registers must unroll on the device (indexed, they
// would live in local memory); the host compilers of the checks do not
// know the pragma.
#if defined(__CUDA_ARCH__)
#define MOEKIT_UNROLL _Pragma("unroll")
#else
#define MOEKIT_UNROLL
#endif

namespace moekit {

struct MaxOp {
  MOEKIT_HD float operator()(float a, float b) const { return fmaxf(a, b); }
};

struct SumOp {
  MOEKIT_HD float operator()(float a, float b) const { return a + b; }
};

// A candidate of an arg-max or arg-top-k: a value and where it came from
// (an expert, a column). Real indices are below ARG_NONE_INDEX.
struct ArgValue {
  float value;
  int32_t index;
};

constexpr int32_t ARG_NONE_INDEX = INT32_MAX;
constexpr int MAX_TOP_K = 16;  // warp_arg_top_k's limit (K rounds of a warp arg-max)

// No candidate: ranks after every real one (the lowest value, the highest
// index). Pads a lane's slots past the end of the data, and fills the ranks
// of a top-k beyond the number of real candidates.
MOEKIT_HD ArgValue arg_none() { return ArgValue{-INFINITY, ARG_NONE_INDEX}; }

// True when `a` ranks before `b` (see the header).
MOEKIT_HD bool arg_before(ArgValue a, ArgValue b) {
  const bool a_nan = a.value != a.value;
  const bool b_nan = b.value != b.value;
  if (a_nan != b_nan) return a_nan;
  if (!a_nan && a.value != b.value) return a.value > b.value;
  return a.index < b.index;
}

struct ArgMaxOp {
  MOEKIT_HD ArgValue operator()(ArgValue a, ArgValue b) const { return arg_before(b, a) ? b : a; }
};

// The first of this lane's N candidates in arg_before order that is not yet
// taken (bit i of `taken`: candidate i was output by an earlier round of a
// top-k); arg_none() when all are taken.
template <int N>
MOEKIT_HD ArgValue lane_arg_max(const ArgValue (&candidates)[N], uint32_t taken) {
  static_assert(N >= 1 && N <= 32, "the taken mask has 32 bits");
  ArgValue best = arg_none();
  MOEKIT_UNROLL
  for (int i = 0; i < N; ++i) {
    if (((taken >> i) & 1u) == 0) best = ArgMaxOp{}(best, candidates[i]);
  }
  return best;
}

// `taken` with the round's winner marked, on the lane that holds it (real
// indices are unique, so exactly one lane marks it; an arg_none() winner
// marks only padding, which ranks last anyway).
template <int N>
MOEKIT_HD uint32_t take_winner(const ArgValue (&candidates)[N], uint32_t taken, int32_t winner) {
  MOEKIT_UNROLL
  for (int i = 0; i < N; ++i) {
    if (candidates[i].index == winner) taken |= 1u << i;
  }
  return taken;
}

}  // namespace moekit
