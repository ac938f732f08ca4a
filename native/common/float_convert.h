// Conversions between double/float and the narrow float formats (bf16, f16,
// FP8 E4M3 and E5M2), plus the element load/store used by casts.
//
// One definition for both backends: the CPU backend, tensor creation, reads,
// fp8.encode/decode and the CUDA cast kernel all call these, so the two
// backends agree bit for bit. The rules (docs/architecture.md, "Numeric conventions"):
//   - round to nearest, ties to even, from the exact value of the input;
//   - saturate = true: overflow and +-inf give +-max finite, which is CUDA's
//     __nv_cvt_float_to_fp8(x, __NV_SATFINITE, fmt);
//   - saturate = false: overflow gives +-inf, or NaN where the format has no
//     infinity (E4M3), which is __NV_NOSAT and IEEE behaviour for bf16/f16;
//   - every NaN becomes the format's canonical NaN (0x7FFF for bf16/f16, 0x7F
//     for FP8), as CUDA's float conversions produce;
//   - decoding is exact.
// tests/fp8/codec.test.ts checks these against an independent
// implementation of the OCP definitions, and tests/native/ against CUDA's own
// headers.
#pragma once

#include <cstdint>
#include <cstring>

#include "dtype.h"
#include "hd.h"

namespace moekit {

MOEKIT_HD uint64_t bits_of(double x) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}

MOEKIT_HD uint32_t bits_of(float x) {
  uint32_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}

MOEKIT_HD float float_from_bits(uint32_t b) {
  float x;
  memcpy(&x, &b, sizeof x);
  return x;
}

MOEKIT_HD double double_from_bits(uint64_t b) {
  double x;
  memcpy(&x, &b, sizeof x);
  return x;
}

constexpr uint32_t F32_CANONICAL_NAN = 0x7FC00000u;

enum class Narrow : int { BF16, F16, E4M3, E5M2 };

// Layout of a narrow format. `ieee`: the all-ones exponent holds inf and NaN
// (E4M3 instead uses it for finite values, NaN only at mantissa 111).
struct NarrowSpec {
  int exp_bits;
  int man_bits;
  int bias;
  bool ieee;
  uint32_t max_code;  // magnitude bits of the largest finite value
  uint32_t nan_code;  // canonical NaN written by encoding
  uint32_t inf_code;  // magnitude bits of infinity (ieee formats only)
};

MOEKIT_HD constexpr NarrowSpec narrow_spec(Narrow f) {
  return f == Narrow::BF16   ? NarrowSpec{8, 7, 127, true, 0x7F7Fu, 0x7FFFu, 0x7F80u}
         : f == Narrow::F16  ? NarrowSpec{5, 10, 15, true, 0x7BFFu, 0x7FFFu, 0x7C00u}
         : f == Narrow::E4M3 ? NarrowSpec{4, 3, 7, false, 0x7Eu, 0x7Fu, 0x7Fu}
                             : NarrowSpec{5, 2, 15, true, 0x7Bu, 0x7Fu, 0x7Cu};
}

// Round-to-nearest-even encoding of the exact value x into format F.
template <Narrow F>
MOEKIT_HD uint32_t encode_narrow(double x, bool saturate) {
  constexpr NarrowSpec S = narrow_spec(F);
  constexpr int M = S.man_bits;
  constexpr int DROP = 52 - M;  // double mantissa bits below the format's ulp
  constexpr uint64_t MAN_MASK = (1ull << M) - 1;
  constexpr int EMIN = 1 - S.bias;  // exponent of the smallest normal
  constexpr uint64_t MAX_MAN = S.max_code & MAN_MASK;
  constexpr int64_t MAX_EXP = static_cast<int64_t>(S.max_code >> M) - S.bias;
  // Bits of (largest finite + half an ulp): the first value that may round
  // past the largest finite. A tie there rounds up (overflows) only when the
  // largest finite mantissa is odd, as in every ieee format; E4M3's 448 has
  // an even mantissa, so 464 still rounds to 448.
  constexpr uint64_t OVERFLOW_BITS =
      (static_cast<uint64_t>(MAX_EXP + 1023) << 52) | (((MAX_MAN << 1) | 1) << (DROP - 1));
  constexpr bool TIE_OVERFLOWS = (MAX_MAN & 1) != 0;
  constexpr uint32_t SIGN_SHIFT = S.exp_bits + M;

  const uint64_t b = bits_of(x);
  const uint32_t sign = static_cast<uint32_t>(b >> 63) << SIGN_SHIFT;
  const uint64_t a = b & 0x7FFFFFFFFFFFFFFFull;
  if (a > 0x7FF0000000000000ull) return S.nan_code;
  const bool overflow = TIE_OVERFLOWS ? a >= OVERFLOW_BITS : a > OVERFLOW_BITS;
  if (overflow) {
    if (saturate) return sign | S.max_code;
    return sign | (S.ieee ? S.inf_code : S.nan_code);
  }
  const int e = static_cast<int>(a >> 52) - 1023;
  if (e >= EMIN) {
    uint32_t r = static_cast<uint32_t>((static_cast<uint64_t>(e + S.bias) << M) | ((a >> DROP) & MAN_MASK));
    const uint64_t rem = a & ((1ull << DROP) - 1);
    const uint64_t half = 1ull << (DROP - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;  // a carry moves into the exponent, as it should
    return sign | r;
  }
  // Subnormal or zero: the result counts units of 2^(EMIN - M).
  const int shift = DROP + (EMIN - e);
  if (shift > 53) return sign;  // below half the smallest subnormal (zero included)
  const uint64_t sig = (a & ((1ull << 52) - 1)) | (1ull << 52);
  uint32_t r = static_cast<uint32_t>(sig >> shift);
  const uint64_t rem = sig & ((1ull << shift) - 1);
  const uint64_t half = 1ull << (shift - 1);
  if (rem > half || (rem == half && (r & 1u))) ++r;  // may become the smallest normal
  return sign | r;
}

// Exact decoding of format F to float (every value of these formats is a float).
template <Narrow F>
MOEKIT_HD float decode_narrow(uint32_t code) {
  constexpr NarrowSpec S = narrow_spec(F);
  constexpr int M = S.man_bits;
  constexpr uint32_t EXP_ALL = (1u << S.exp_bits) - 1;
  if (F == Narrow::BF16) return float_from_bits(code << 16);
  const uint32_t sign = ((code >> (S.exp_bits + M)) & 1u) << 31;
  const uint32_t exp = (code >> M) & EXP_ALL;
  const uint32_t man = code & ((1u << M) - 1);
  if (S.ieee && exp == EXP_ALL) return float_from_bits(sign | (man ? F32_CANONICAL_NAN : 0x7F800000u));
  if (!S.ieee && exp == EXP_ALL && man == (1u << M) - 1) return float_from_bits(sign | F32_CANONICAL_NAN);
  if (exp == 0) {
    // man * 2^(1 - bias - M): both factors and the product are exact floats.
    const float unit = float_from_bits(static_cast<uint32_t>(127 + 1 - S.bias - M) << 23);
    const float v = static_cast<float>(man) * unit;
    return sign ? -v : v;
  }
  return float_from_bits(sign | ((exp - S.bias + 127) << 23) | (man << (23 - M)));
}

// encode_narrow<Narrow::BF16>(x, false) for a float x, by bit arithmetic:
// the hot path of bf16 tensor creation and casts (same bits, verified by the
// conversion checks).
MOEKIT_HD uint16_t bf16_from_float(float x) {
  const uint32_t b = bits_of(x);
  if ((b & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFF;
  return static_cast<uint16_t>((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

MOEKIT_HD float f32_from_double(double x) {
  return x != x ? float_from_bits(F32_CANONICAL_NAN) : static_cast<float>(x);
}

// Float to integer: truncation toward zero, saturating, NaN gives 0.
MOEKIT_HD int32_t i32_from_double(double x) {
  if (x != x) return 0;
  if (x >= 2147483647.0) return 2147483647;
  if (x <= -2147483648.0) return -2147483647 - 1;
  return static_cast<int32_t>(x);
}

MOEKIT_HD uint8_t u8_from_double(double x) {
  if (x != x || x <= 0.0) return 0;
  if (x >= 255.0) return 255;
  return static_cast<uint8_t>(x);
}

// Element i of a buffer of type t, as a double (exact for every dtype).
MOEKIT_HD double load_as_double(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::F16: return decode_narrow<Narrow::F16>(static_cast<const uint16_t*>(p)[i]);
    case DType::BF16: return decode_narrow<Narrow::BF16>(static_cast<const uint16_t*>(p)[i]);
    case DType::E4M3: return decode_narrow<Narrow::E4M3>(static_cast<const uint8_t*>(p)[i]);
    case DType::E5M2: return decode_narrow<Narrow::E5M2>(static_cast<const uint8_t*>(p)[i]);
    case DType::I32: return static_cast<const int32_t*>(p)[i];
    case DType::U8: return static_cast<const uint8_t*>(p)[i];
  }
  return 0.0;
}

// Stores v as element i of a buffer of type t with the rules above (FP8
// saturating, as the default encoding is).
MOEKIT_HD void store_from_double(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::F32: static_cast<float*>(p)[i] = f32_from_double(v); break;
    case DType::F16: static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(encode_narrow<Narrow::F16>(v, false)); break;
    case DType::BF16: static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(encode_narrow<Narrow::BF16>(v, false)); break;
    case DType::E4M3: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(encode_narrow<Narrow::E4M3>(v, true)); break;
    case DType::E5M2: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(encode_narrow<Narrow::E5M2>(v, true)); break;
    case DType::I32: static_cast<int32_t*>(p)[i] = i32_from_double(v); break;
    case DType::U8: static_cast<uint8_t*>(p)[i] = u8_from_double(v); break;
  }
}

// Reads decode to f32 (toArray gives floats as f32, FP8 too).
MOEKIT_HD float load_as_float(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::F16: return decode_narrow<Narrow::F16>(static_cast<const uint16_t*>(p)[i]);
    case DType::BF16: return decode_narrow<Narrow::BF16>(static_cast<const uint16_t*>(p)[i]);
    case DType::E4M3: return decode_narrow<Narrow::E4M3>(static_cast<const uint8_t*>(p)[i]);
    case DType::E5M2: return decode_narrow<Narrow::E5M2>(static_cast<const uint8_t*>(p)[i]);
    case DType::I32: return static_cast<float>(static_cast<const int32_t*>(p)[i]);
    case DType::U8: return static_cast<float>(static_cast<const uint8_t*>(p)[i]);
  }
  return 0.0f;
}

}  // namespace moekit
