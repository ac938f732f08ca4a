// Checks native/common/float_convert.h against the host implementations in
// CUDA's own headers (cuda_fp8.h, cuda_bf16.h, cuda_fp16.h): every FP8 and
// half code decodes to the same float, and every float (or a strided sample
// with --stride N) encodes to the same bits, saturating and not.
// Built by CMake when the CUDA toolkit is found (build/checks/); run by
// tests/fp8/codec.test.ts with --stride 7. Exit status 0 means no mismatch.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "../../native/common/float_convert.h"

using namespace moekit;

namespace {

std::atomic<long> g_failures{0};

void report(const char* what, uint32_t input, uint32_t ours, uint32_t cuda) {
  if (g_failures.fetch_add(1) < 20)
    std::fprintf(stderr, "mismatch %s input=0x%08x ours=0x%x cuda=0x%x\n", what, input, ours, cuda);
}

bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || bits_of(a) == bits_of(b);
}

void check_decoding() {
  for (uint32_t c = 0; c < 256; ++c) {
    const auto s = static_cast<__nv_fp8_storage_t>(c);
    const float e4 = __half2float(__half(__nv_cvt_fp8_to_halfraw(s, __NV_E4M3)));
    const float e5 = __half2float(__half(__nv_cvt_fp8_to_halfraw(s, __NV_E5M2)));
    if (!same_float(decode_narrow<Narrow::E4M3>(c), e4)) report("decode e4m3", c, bits_of(decode_narrow<Narrow::E4M3>(c)), bits_of(e4));
    if (!same_float(decode_narrow<Narrow::E5M2>(c), e5)) report("decode e5m2", c, bits_of(decode_narrow<Narrow::E5M2>(c)), bits_of(e5));
  }
  for (uint32_t c = 0; c < 65536; ++c) {
    __nv_bfloat16_raw rb;
    rb.x = static_cast<unsigned short>(c);
    __half_raw rh;
    rh.x = static_cast<unsigned short>(c);
    const float b = __bfloat162float(__nv_bfloat16(rb));
    const float h = __half2float(__half(rh));
    if (!same_float(decode_narrow<Narrow::BF16>(c), b)) report("decode bf16", c, bits_of(decode_narrow<Narrow::BF16>(c)), bits_of(b));
    if (!same_float(decode_narrow<Narrow::F16>(c), h)) report("decode f16", c, bits_of(decode_narrow<Narrow::F16>(c)), bits_of(h));
  }
}

void check_encoding(uint64_t begin, uint64_t end, uint64_t stride) {
  for (uint64_t i = begin; i < end; i += stride) {
    const uint32_t bits = static_cast<uint32_t>(i);
    const float x = float_from_bits(bits);
    const double d = x;
    const uint32_t e4s = __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3);
    const uint32_t e4n = __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E4M3);
    const uint32_t e5s = __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2);
    const uint32_t e5n = __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E5M2);
    if (encode_narrow<Narrow::E4M3>(d, true) != e4s) report("e4m3 satfinite", bits, encode_narrow<Narrow::E4M3>(d, true), e4s);
    if (encode_narrow<Narrow::E4M3>(d, false) != e4n) report("e4m3 nosat", bits, encode_narrow<Narrow::E4M3>(d, false), e4n);
    if (encode_narrow<Narrow::E5M2>(d, true) != e5s) report("e5m2 satfinite", bits, encode_narrow<Narrow::E5M2>(d, true), e5s);
    if (encode_narrow<Narrow::E5M2>(d, false) != e5n) report("e5m2 nosat", bits, encode_narrow<Narrow::E5M2>(d, false), e5n);
    const uint32_t b16 = __nv_bfloat16_raw(__float2bfloat16_rn(x)).x;
    const uint32_t f16 = __half_raw(__float2half_rn(x)).x;
    if (encode_narrow<Narrow::BF16>(d, false) != b16) report("bf16", bits, encode_narrow<Narrow::BF16>(d, false), b16);
    if (bf16_from_float(x) != b16) report("bf16 fast path", bits, bf16_from_float(x), b16);
    if (encode_narrow<Narrow::F16>(d, false) != f16) report("f16", bits, encode_narrow<Narrow::F16>(d, false), f16);
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t stride = 1;
  if (argc == 3 && std::strcmp(argv[1], "--stride") == 0) stride = std::strtoull(argv[2], nullptr, 10);
  if (stride == 0) stride = 1;
  check_decoding();
  const unsigned n = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t total = 1ull << 32;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < n; ++t) {
    // Each thread takes an interleaved share so all of them see every region.
    threads.emplace_back([=] { check_encoding(t * stride, total, stride * n); });
  }
  for (auto& th : threads) th.join();
  const long failures = g_failures.load();
  std::printf("checked %llu floats (stride %llu) and all codes: %ld mismatches\n",
              static_cast<unsigned long long>(total / stride), static_cast<unsigned long long>(stride), failures);
  return failures == 0 ? 0 : 1;
}
