// cast: element-wise dtype conversion with the rules of
// native/common/float_convert.h (round to nearest even, FP8 saturating,
// float to integer truncating and saturating, NaN to 0).
//   kernel:   cuda/runtime/cast_v1.cu
//   CPU twin: native/cpu/runtime/cast.cc
//   tests:    tests/runtime/dtype.test.ts
//   bench:    none (a copy-bound utility; bench/memory covers copies)
#pragma once

#include <cstdint>

#include "../../common/dtype.h"
#include "../../common/stream.h"

namespace moekit {

struct CastParams {
  const void* src;  // [n] of src_dtype
  void* dst;        // [n] of dst_dtype
  DType src_dtype;
  DType dst_dtype;
  int64_t n;
};

void cast_cpu(const CastParams& p);
void cast_v1(const CastParams& p, cudaStream_t stream);

}  // namespace moekit
