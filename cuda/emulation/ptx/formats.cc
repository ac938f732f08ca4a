// Element formats the tensor-core instructions read, decoded from their
// definitions (PTX ISA "Floating point data types" and "Alternate floating
// point data formats") rather than through CUDA's headers, whose host paths
// vary between toolkit versions:
//   bf16  the upper 16 bits of an f32;
//   f16   IEEE binary16: bias 15, subnormals, infinities, NaNs;
//   e4m3  bias 7, subnormals, no infinities, S.1111.111 is NaN (max 448);
//   e5m2  bias 15, subnormals, IEEE-like infinities and NaNs (max 57344).
#include <cmath>
#include <cstring>
#include <limits>

#include "ptx.h"

namespace moekit {
namespace emu {
namespace ptx {

namespace {

// A small binary format with an implicit leading one: value =
// (-1)^s * 2^(e - bias) * (1 + m / 2^mbits), or 2^(1 - bias) * m / 2^mbits
// when e == 0. Every value of the formats here is exact in f32, so ldexp on
// the integer significand loses nothing.
float finite_value(bool negative, uint32_t exponent, uint32_t mantissa, int mantissa_bits, int bias) {
  const int significand = static_cast<int>(exponent == 0 ? mantissa : (mantissa | (1u << mantissa_bits)));
  const int scale = (exponent == 0 ? 1 : static_cast<int>(exponent)) - bias - mantissa_bits;
  const float magnitude = std::ldexp(static_cast<float>(significand), scale);
  return negative ? -magnitude : magnitude;
}

float signed_nan(bool negative) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  return negative ? -nan : nan;
}

float signed_inf(bool negative) {
  const float inf = std::numeric_limits<float>::infinity();
  return negative ? -inf : inf;
}

}  // namespace

float decode(Format f, uint32_t bits) {
  switch (f) {
    case Format::BF16: {
      // Exact by definition, NaN payloads included.
      const uint32_t word = (bits & 0xFFFFu) << 16;
      float value;
      std::memcpy(&value, &word, sizeof value);
      return value;
    }
    case Format::F16: {
      const bool negative = (bits >> 15) & 1u;
      const uint32_t exponent = (bits >> 10) & 0x1Fu;
      const uint32_t mantissa = bits & 0x3FFu;
      if (exponent == 0x1F) return mantissa ? signed_nan(negative) : signed_inf(negative);
      return finite_value(negative, exponent, mantissa, 10, 15);
    }
    case Format::E4M3: {
      const bool negative = (bits >> 7) & 1u;
      const uint32_t exponent = (bits >> 3) & 0xFu;
      const uint32_t mantissa = bits & 0x7u;
      // The all-ones exponent still holds normal numbers (up to 448); only
      // the all-ones mantissa with it is NaN, and there is no infinity.
      if (exponent == 0xF && mantissa == 0x7) return signed_nan(negative);
      return finite_value(negative, exponent, mantissa, 3, 7);
    }
    case Format::E5M2: {
      const bool negative = (bits >> 7) & 1u;
      const uint32_t exponent = (bits >> 2) & 0x1Fu;
      const uint32_t mantissa = bits & 0x3u;
      if (exponent == 0x1F) return mantissa ? signed_nan(negative) : signed_inf(negative);
      return finite_value(negative, exponent, mantissa, 2, 15);
    }
  }
  return std::numeric_limits<float>::quiet_NaN();
}

}  // namespace ptx
}  // namespace emu
}  // namespace moekit
