// One f32 result stored as element i of an f32, bf16 or f16 buffer, rounded
// to nearest even: the bits of store_from_double (native/common/float_convert.h)
// for every finite value, as the CPU twins store.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "../../native/common/dtype.h"

namespace moekit {

__device__ __forceinline__ void store_float(void* out, DType dtype, int64_t i, float v) {
  switch (dtype) {
    case DType::BF16: static_cast<__nv_bfloat16*>(out)[i] = __float2bfloat16_rn(v); break;
    case DType::F16: static_cast<__half*>(out)[i] = __float2half_rn(v); break;
    default: static_cast<float*>(out)[i] = v; break;  // F32: the bindings allow nothing else
  }
}

}  // namespace moekit
