// Element types shared by the binding, the CPU backend and the CUDA kernels.
// The numeric values are part of the binding's contract with lib/dtype.ts.
#pragma once

#include <cstdint>

#include "hd.h"

namespace moekit {

enum class DType : int32_t {
  F32 = 0,
  F16 = 1,
  BF16 = 2,
  E4M3 = 3,
  E5M2 = 4,
  I32 = 5,
  U8 = 6,
};

constexpr int NUM_DTYPES = 7;

MOEKIT_HD constexpr int64_t dtype_size(DType t) {
  return t == DType::F32 || t == DType::I32 ? 4 : t == DType::F16 || t == DType::BF16 ? 2 : 1;
}

MOEKIT_HD constexpr bool dtype_is_float(DType t) {
  return t != DType::I32 && t != DType::U8;
}

MOEKIT_HD constexpr bool dtype_is_fp8(DType t) {
  return t == DType::E4M3 || t == DType::E5M2;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::E4M3: return "e4m3";
    case DType::E5M2: return "e5m2";
    case DType::I32: return "i32";
    case DType::U8: return "u8";
  }
  return "?";
}

}  // namespace moekit
