// Checked size arithmetic for element counts, byte counts and offsets.
//
// Every size the addon computes from user input goes through these, so a
// product that would wrap (2^31 x 2^31 x 4 bytes) becomes a RangeError that
// names the argument instead of a tiny allocation that is then overrun.
#pragma once

#include <cstdint>
#include <string>

#include "../common/error.h"

namespace moekit {

// Largest element count of one tensor: byte counts of every dtype stay
// exact in int64 and in JS numbers (2^53).
constexpr int64_t MAX_TENSOR_ELEMENTS = int64_t{1} << 50;
// Largest buffer any device can address: x86-64 and arm64 user space is
// 2^47 bytes (128 TiB); no GPU has more memory than that.
constexpr uint64_t MAX_BUFFER_BYTES = uint64_t{1} << 47;

// a * b, or false when it overflows int64 (or either is negative).
inline bool checked_mul(int64_t a, int64_t b, int64_t* out) {
  if (a < 0 || b < 0) return false;
  return !__builtin_mul_overflow(a, b, out);
}

inline bool checked_add(int64_t a, int64_t b, int64_t* out) {
  if (a < 0 || b < 0) return false;
  return !__builtin_add_overflow(a, b, out);
}

// "2^62" for exact powers of two, else the decimal number: readable sizes in errors.
inline std::string size_text(uint64_t n) {
  if (n >= 1024 && (n & (n - 1)) == 0) return "2^" + std::to_string(__builtin_ctzll(n));
  return std::to_string(n);
}

}  // namespace moekit
