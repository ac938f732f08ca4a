// The per-block scale of the DeepSeek-V3 recipe, shared by the CPU twin and
// the CUDA quantizer so both produce the same scale bits.
#pragma once

#include <cstdint>

#include "../../common/float_convert.h"
#include "../../common/hd.h"

namespace moekit {

constexpr float QUANT_AMAX_FLOOR = 1e-4f;

MOEKIT_HD float fp8_max_value(DType format) { return format == DType::E4M3 ? 448.0f : 57344.0f; }

// The smallest power of two >= s (s > 0, finite): a scale an unsigned
// 8-bit exponent can hold exactly. Exact bit arithmetic, no log2.
MOEKIT_HD float round_up_pow2(float s) {
  const uint32_t b = bits_of(s);
  if ((b & 0x7F800000u) == 0) {
    // Subnormal: the result is a power of two at or above it.
    float p = float_from_bits(0x00000001u);
    while (p < s) p *= 2.0f;
    return p;
  }
  if ((b & 0x007FFFFFu) == 0) return s;
  return float_from_bits((b & 0xFF800000u) + 0x00800000u);
}

// amax: the largest |x| of the block (the floor is applied here).
MOEKIT_HD float fp8_block_scale(float amax, DType format, bool ue8m0) {
  const float a = amax > QUANT_AMAX_FLOOR ? amax : QUANT_AMAX_FLOOR;
  const float s = a / fp8_max_value(format);
  return ue8m0 ? round_up_pow2(s) : s;
}

// The multiplier applied to each element: the correctly rounded f32
// reciprocal of the scale, identical on host (IEEE division) and device
// (rcp.rn, which avoids pulling the division slow path into kernels).
MOEKIT_HD float fp8_inverse_scale(float scale) {
#if defined(__CUDA_ARCH__)
  return __frcp_rn(scale);
#else
  return 1.0f / scale;
#endif
}

// Every NaN as the one NaN the host encoder sees (0x7FFFFFFF, as CUDA's
// software conversion canonicalizes), so the hardware conversion of sm_89+
// cannot carry a NaN's sign into the FP8 code.
MOEKIT_HD float canonical_nan(float v) { return v != v ? float_from_bits(0x7FFFFFFFu) : v; }

}  // namespace moekit
