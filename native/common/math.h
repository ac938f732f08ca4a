// Small integer helpers shared by host and device code.
#pragma once

#include <cstdint>

#include "hd.h"

namespace moekit {

template <typename T>
MOEKIT_HD constexpr T ceil_div(T a, T b) {
  return (a + b - 1) / b;
}

template <typename T>
MOEKIT_HD constexpr T round_up(T a, T b) {
  return ceil_div(a, b) * b;
}

}  // namespace moekit
