// FP8 mma fragments fed to bf16 tensor cores, for GPUs without FP8 mma
// (sm_80..sm_88). __host__ __device__ so tests/native/mma_layout_check.cc
// checks every code and the fragment mapping on the CPU.
//
// Every E4M3 and E5M2 value (subnormals, inf and NaN included) is exactly a
// bf16: its float has 16 zero low bits, so the bf16 is the float's high
// half. Decoding goes through decode_narrow (float_convert.h), the one
// definition both backends use.
#pragma once

#include <cstdint>

#include "../../native/common/dtype.h"
#include "../../native/common/float_convert.h"
#include "../../native/common/hd.h"

namespace moekit {

template <DType F>
constexpr Narrow narrow_of() {
  static_assert(F == DType::E4M3 || F == DType::E5M2, "an FP8 format");
  return F == DType::E4M3 ? Narrow::E4M3 : Narrow::E5M2;
}

// bf16 bits of FP8 code `code` (low 8 bits) of format F.
template <DType F>
MOEKIT_HD uint32_t bf16_bits_of_fp8(uint32_t code) {
  return bits_of(decode_narrow<narrow_of<F>()>(code & 0xFFu)) >> 16;
}

// Bytes 0, 1 (lo) or 2, 3 (hi) of four packed FP8 codes as a bf16x2 word,
// the lower byte's value in the lower half.
template <DType F>
MOEKIT_HD uint32_t fp8_pair_as_bf16x2(uint32_t four_codes, int upper_pair) {
  const uint32_t shift = upper_pair ? 16u : 0u;
  return bf16_bits_of_fp8<F>(four_codes >> shift) | (bf16_bits_of_fp8<F>(four_codes >> (shift + 8)) << 16);
}

// One k32 step of FP8 fragments (mma_layout.h: A of m16n8k32 in a8[4], B in
// b8[2]) as two bf16 m16n8k16 steps, half = 0 and 1. The 32 physical k of
// the step are renamed so that each lane's registers already hold its bf16
// fragments: in step `half`, the bf16 logical k pair (2t, 2t+1) of lane
// group t is physical k (16 half + 4t, +1) and the pair (2t+8, 2t+9) is
// (16 half + 4t + 2, +3). A and B use the same renaming, so the two steps
// together sum the same 32 products as one k32 mma.
template <DType F>
MOEKIT_HD void fp8_a_fragment_as_bf16(const uint32_t (&a8)[4], int half, uint32_t (&a16)[4]) {
  a16[0] = fp8_pair_as_bf16x2<F>(a8[2 * half], 0);      // row g,     k 2t, 2t+1
  a16[1] = fp8_pair_as_bf16x2<F>(a8[2 * half + 1], 0);  // row g + 8, k 2t, 2t+1
  a16[2] = fp8_pair_as_bf16x2<F>(a8[2 * half], 1);      // row g,     k 2t+8, 2t+9
  a16[3] = fp8_pair_as_bf16x2<F>(a8[2 * half + 1], 1);  // row g + 8, k 2t+8, 2t+9
}

template <DType F>
MOEKIT_HD void fp8_b_fragment_as_bf16(const uint32_t (&b8)[2], int half, uint32_t (&b16)[2]) {
  b16[0] = fp8_pair_as_bf16x2<F>(b8[half], 0);  // k 2t, 2t+1
  b16[1] = fp8_pair_as_bf16x2<F>(b8[half], 1);  // k 2t+8, 2t+9
}

}  // namespace moekit
