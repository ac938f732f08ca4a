// The FP8 scale block of the DeepSeek-V3 recipe (docs/architecture.md, "Numeric conventions"): one
// f32 scale per 128 consecutive elements of a row (1x128, activations) or
// per 128x128 block (weights). One number for every op that reads or writes
// block scales: quantize's block sizes, fp8Gemm's promotion interval (one
// K block per scale, B's scale rows per 128 of N), and the cuBLASLt
// baseline's VEC128 / BLK128x128 scaling.
#pragma once

#include <cstdint>

namespace moekit {

constexpr int64_t FP8_SCALE_BLOCK = 128;  // elements per scale along K (and rows of B per scale row)

}  // namespace moekit
