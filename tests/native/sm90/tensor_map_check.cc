// Checks the host-side TMA parameters of fp8Gemm v3 (cuda/common/sm90/
// tensor_map.h): for the operand shapes v3 sees, the map of A [M, K] and
// B [N, K] has dims {K, rows}, a row stride of K bytes, a box of
// {BLOCK_K, BLOCK_M or BLOCK_N} with unit element strides, the 128B swizzle,
// zero fill and byte elements; the box's bytes are exactly what a pipeline
// stage expects; and the rules cuda.h documents for cuTensorMapEncodeTiled
// accept every shape v3 accepts (K % 16 == 0) and reject the others.
// Exit status 0 means no failure. Built into build/checks/, run by
// tests/native/host_checks.test.ts.
#include <cstdint>
#include <cstdio>

#include "../../../cuda/common/sm90/tensor_map.h"
#include "../../../cuda/gemm/sm90/fp8_gemm_config_v3.h"

using namespace moekit;
using namespace moekit::sm90;

namespace {

int g_failures = 0;

void fail(const char* what, int64_t rows, int64_t k, const char* detail) {
  if (++g_failures <= 30) {
    std::fprintf(stderr, "FAIL %s: rows=%lld k=%lld: %s\n", what, static_cast<long long>(rows), static_cast<long long>(k), detail);
  }
}

constexpr uint64_t ALIGNED_BASE = 0x7f0000000000ull;  // as cudaMallocFromPoolAsync returns: 256-byte aligned

void check_spec(int64_t rows, int64_t k, uint32_t box_rows) {
  const TensorMap2dSpec s = kmajor_fp8_tile_map_spec(rows, k, box_rows, 128);
  if (s.global_dim[0] != static_cast<uint64_t>(k) || s.global_dim[1] != static_cast<uint64_t>(rows)) {
    fail("global dims", rows, k, "must be {K, rows}, innermost first");
  }
  if (s.global_stride[0] != static_cast<uint64_t>(k)) fail("row stride", rows, k, "must be K bytes (one FP8 byte per element)");
  if (s.box_dim[0] != 128 || s.box_dim[1] != box_rows) fail("box", rows, k, "must be {128, tile rows}");
  if (s.element_strides[0] != 1 || s.element_strides[1] != 1) fail("element strides", rows, k, "must be 1 (dense tile)");
  if (s.data_type != CU_TENSOR_MAP_DATA_TYPE_UINT8 || s.element_bytes != 1) fail("data type", rows, k, "FP8 codes are bytes");
  if (s.swizzle != CU_TENSOR_MAP_SWIZZLE_128B) fail("swizzle", rows, k, "wgmma descriptors assume the 128B swizzle");
  if (s.interleave != CU_TENSOR_MAP_INTERLEAVE_NONE) fail("interleave", rows, k, "must be none");
  // Zero fill, not the NaN request: ragged edges must add +0 to the sums.
  if (s.oob_fill != CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) fail("out-of-bounds fill", rows, k, "must fill zeros");
  if (s.box_dim[0] * s.element_bytes != swizzle_span_bytes(s.swizzle)) {
    fail("box row", rows, k, "a box row must be exactly one swizzle span (the descriptors' row pitch)");
  }
  const char* why = tensor_map_spec_problem(s, ALIGNED_BASE);
  const bool v3_accepts = k % 16 == 0;
  if (v3_accepts && why != nullptr) fail("encode rules", rows, k, why);
  if (!v3_accepts && why == nullptr) fail("encode rules", rows, k, "a row stride that is no multiple of 16 bytes was accepted");
}

template <typename Cfg>
void check_config() {
  // The expect_tx count of a stage equals the bytes of its two boxes.
  const TensorMap2dSpec a = kmajor_fp8_tile_map_spec(1000, 1024, Cfg::BLOCK_M, Cfg::BLOCK_K);
  const TensorMap2dSpec b = kmajor_fp8_tile_map_spec(1000, 1024, Cfg::BLOCK_N, Cfg::BLOCK_K);
  const uint64_t a_box = uint64_t{a.box_dim[0]} * a.box_dim[1] * a.element_bytes;
  const uint64_t b_box = uint64_t{b.box_dim[0]} * b.box_dim[1] * b.element_bytes;
  if (a_box != Cfg::A_STAGE_BYTES || b_box != Cfg::B_STAGE_BYTES || a_box + b_box != Cfg::STAGE_BYTES) {
    fail("stage bytes", Cfg::BLOCK_M, Cfg::BLOCK_K, "box bytes differ from the stage's expected transaction bytes");
  }
  const int64_t ks[] = {16, 32, 48, 112, 128, 144, 240, 256, 272, 512, 1536, 2048, 7168, 16384, 1, 8, 15, 17, 100, 129, 7000};
  const int64_t rows[] = {1, 2, 63, 64, 65, 127, 128, 129, 2112, 4096, 24576, 32768, (int64_t{1} << 31) - 1};
  for (int64_t k : ks) {
    for (int64_t r : rows) {
      check_spec(r, k, Cfg::BLOCK_M);
      check_spec(r, k, Cfg::BLOCK_N);
    }
  }
}

void check_rules() {
  // The documented limits, one at a time, on an otherwise valid spec.
  const TensorMap2dSpec good = kmajor_fp8_tile_map_spec(256, 1024, 128, 128);
  if (tensor_map_spec_problem(good, ALIGNED_BASE) != nullptr) fail("valid spec", 256, 1024, "rejected");
  if (tensor_map_spec_problem(good, ALIGNED_BASE + 8) == nullptr) fail("alignment", 256, 1024, "an 8-byte-aligned base was accepted");
  TensorMap2dSpec s = good;
  s.global_dim[1] = 0;
  if (tensor_map_spec_problem(s, ALIGNED_BASE) == nullptr) fail("empty dim", 0, 1024, "accepted");
  s = good;
  s.global_dim[1] = (uint64_t{1} << 32) + 1;
  if (tensor_map_spec_problem(s, ALIGNED_BASE) == nullptr) fail("dim over 2^32", 0, 1024, "accepted");
  s = good;
  s.box_dim[1] = 257;
  if (tensor_map_spec_problem(s, ALIGNED_BASE) == nullptr) fail("box over 256", 256, 1024, "accepted");
  s = good;
  s.box_dim[0] = 256;
  if (tensor_map_spec_problem(s, ALIGNED_BASE) == nullptr) fail("box wider than the swizzle", 256, 1024, "accepted");
  s = good;
  s.box_dim[0] = 8;
  if (tensor_map_spec_problem(s, ALIGNED_BASE) == nullptr) fail("box row not 16-byte multiple", 256, 1024, "accepted");
  s = good;
  s.element_strides[1] = 9;
  if (tensor_map_spec_problem(s, ALIGNED_BASE) == nullptr) fail("element stride over 8", 256, 1024, "accepted");
  s = good;
  s.global_stride[0] = uint64_t{1} << 40;
  if (tensor_map_spec_problem(s, ALIGNED_BASE) == nullptr) fail("stride at 2^40", 256, 1024, "accepted");
  s = good;
  s.global_stride[0] = 512;
  if (tensor_map_spec_problem(s, ALIGNED_BASE) == nullptr) fail("stride shorter than a row", 256, 1024, "accepted");
}

}  // namespace

// Takes --quick like the other checks; all of it is quick.
int main() {
  check_config<Fp8GemmV3Large>();
  check_config<Fp8GemmV3Small>();
  check_rules();
  // Every K from 1 to 20000: the rules accept exactly the multiples of 16.
  for (int64_t k = 1; k <= 20000; ++k) {
    const char* why = tensor_map_spec_problem(kmajor_fp8_tile_map_spec(64, k, 64, 128), ALIGNED_BASE);
    if ((why == nullptr) != (k % 16 == 0)) {
      fail("K rule", 64, k, why ? why : "accepted");
      break;
    }
  }
  if (g_failures) {
    std::fprintf(stderr, "%d failure(s)\n", g_failures);
    return 1;
  }
  std::printf("sm90 tensor maps: ok\n");
  return 0;
}
