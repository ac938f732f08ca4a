// Checks the emulation's PTX instruction semantics (cuda/emulation/ptx)
// against constructions written here a second time, as literally as the
// PTX ISA states them:
//   - element formats: known codes, and every code against CUDA's own host
//     conversions (cuda_fp16.h, cuda_bf16.h, cuda_fp8.h);
//   - mma.sync m16n8k16 (bf16, f16) and m16n8k32 (the four e4m3/e5m2
//     pairs): random matrices handed to the lanes by the fragment tables,
//     d against a double matmul with an f32-accumulation tolerance;
//   - ldmatrix x1/x2/x4, plain and .trans, from scattered row addresses;
//     unused lanes' addresses ignored, misaligned and rejected rows refused;
//   - swizzle: every address below 2^18 against the chunk rule per mode;
//   - matrix descriptors: a hand-encoded one and random round trips;
//   - wgmma m64nNk32 e4m3 from K-major 128B (64B, 32B) swizzled images
//     placed by the element formula, K-stepped, scale-d off and on, against
//     a double matmul; the accumulator map is a bijection onto 64 x n;
//   - wgmma m64nNk16 bf16 with K-major and MN-major (imm-trans) operands
//     from the canonical layouts' element formulas, and a literal point;
//   - cuTensorMapEncodeTiled: every argument rule refused once (and its
//     edge accepted); tile loads of boxes partly or wholly out of bounds
//     (zero and NaN fill, swizzled placement, full box bytes);
//   - mbarrier: a phase completes only when arrivals and tx are both done;
//     parity after init; counts out of range refused.
// Seeded (--seed, else MOEKIT_TEST_SEED, else a fixed seed); the seed is
// printed. Built by CMake into build/checks/; exit status 0 means no
// failure.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../check_options.h"
#include "../../../cuda/emulation/ptx/ptx.h"

namespace ptx = moekit::emu::ptx;
using ptx::Format;

namespace {

int g_failures = 0;
long g_checks = 0;
uint64_t g_seed = 0;

void fail(const char* what, const std::string& detail) {
  if (++g_failures <= 30)
    std::fprintf(stderr, "FAIL %s (seed %llu): %s\n", what, static_cast<unsigned long long>(g_seed), detail.c_str());
}

void expect(bool ok, const char* what, const std::string& detail) {
  ++g_checks;
  if (!ok) fail(what, detail);
}

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char text[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(text, sizeof text, fmt, args);
  va_end(args);
  return text;
}

const char* name(Format f) {
  switch (f) {
    case Format::BF16: return "bf16";
    case Format::F16: return "f16";
    case Format::E4M3: return "e4m3";
    case Format::E5M2: return "e5m2";
  }
  return "?";
}

bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// ---- reference decoding: CUDA's host conversions ------------------------------------------------
float cuda_decode(Format f, uint32_t code) {
  switch (f) {
    case Format::BF16: {
      __nv_bfloat16_raw raw;
      raw.x = static_cast<unsigned short>(code);
      return __bfloat162float(__nv_bfloat16(raw));
    }
    case Format::F16: {
      __half_raw raw;
      raw.x = static_cast<unsigned short>(code);
      return __half2float(__half(raw));
    }
    case Format::E4M3:
      return __half2float(__half(__nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(code), __NV_E4M3)));
    case Format::E5M2:
      return __half2float(__half(__nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(code), __NV_E5M2)));
  }
  return NAN;
}

int format_bits(Format f) { return f == Format::BF16 || f == Format::F16 ? 16 : 8; }

// ---- 1. formats ----------------------------------------------------------------------------------
void check_formats() {
  struct Known {
    Format f;
    uint32_t code;
    double value;  // NAN: any NaN
  };
  const double inf = INFINITY;
  const Known known[] = {
      {Format::E4M3, 0x7E, 448.0},           {Format::E4M3, 0xFE, -448.0},
      {Format::E4M3, 0x01, std::ldexp(1.0, -9)}, {Format::E4M3, 0x07, 7 * std::ldexp(1.0, -9)},
      {Format::E4M3, 0x08, std::ldexp(1.0, -6)}, {Format::E4M3, 0x38, 1.0},
      {Format::E4M3, 0x7F, NAN},             {Format::E4M3, 0xFF, NAN},
      {Format::E4M3, 0x78, 256.0},           {Format::E4M3, 0x80, -0.0},
      {Format::E5M2, 0x7C, inf},             {Format::E5M2, 0xFC, -inf},
      {Format::E5M2, 0x7D, NAN},             {Format::E5M2, 0x7F, NAN},
      {Format::E5M2, 0x7B, 57344.0},         {Format::E5M2, 0x3C, 1.0},
      {Format::E5M2, 0x01, std::ldexp(1.0, -16)}, {Format::E5M2, 0x04, std::ldexp(1.0, -14)},
      {Format::F16, 0x3C00, 1.0},            {Format::F16, 0x0001, std::ldexp(1.0, -24)},
      {Format::F16, 0x03FF, 1023 * std::ldexp(1.0, -24)}, {Format::F16, 0x0400, std::ldexp(1.0, -14)},
      {Format::F16, 0x7BFF, 65504.0},        {Format::F16, 0x7C00, inf},
      {Format::F16, 0xFC00, -inf},           {Format::F16, 0x7E00, NAN},
      {Format::F16, 0x8000, -0.0},           {Format::F16, 0xC500, -5.0},
      {Format::BF16, 0x3F80, 1.0},           {Format::BF16, 0xC040, -3.0},
      {Format::BF16, 0x0001, std::ldexp(1.0, -133)}, {Format::BF16, 0x7F80, inf},
      {Format::BF16, 0x7FC0, NAN},           {Format::BF16, 0x4049, 3.140625},
  };
  for (const Known& k : known) {
    const float got = ptx::decode(k.f, k.code);
    const bool ok = std::isnan(k.value) ? std::isnan(got) : same_float(got, static_cast<float>(k.value));
    expect(ok, "format known value", format("%s 0x%x decodes to %.9g, expected %.9g", name(k.f), k.code,
                                            static_cast<double>(got), k.value));
  }
  // Only the low 8 / 16 bits are the code.
  expect(same_float(ptx::decode(Format::E4M3, 0xABCD0038u), 1.0f), "format high bits", "e4m3 0xABCD0038 != 1");
  expect(same_float(ptx::decode(Format::BF16, 0xFFFF3F80u), 1.0f), "format high bits", "bf16 0xFFFF3F80 != 1");
  for (Format f : {Format::BF16, Format::F16, Format::E4M3, Format::E5M2}) {
    for (uint32_t code = 0; code < (1u << format_bits(f)); ++code) {
      const float got = ptx::decode(f, code);
      const float want = cuda_decode(f, code);
      if (!same_float(got, want))
        expect(false, "format vs CUDA", format("%s 0x%x: %.9g, CUDA %.9g", name(f), code, static_cast<double>(got),
                                               static_cast<double>(want)));
      else
        ++g_checks;
    }
  }
}

// A random code of a finite value small enough that products and sums of a
// few dozen stay far from overflow (16-bit formats: zero or 2^-8..2^8).
uint32_t random_code(Format f, std::mt19937_64& rng) {
  for (;;) {
    const uint32_t code = static_cast<uint32_t>(rng()) & ((1u << format_bits(f)) - 1u);
    const float v = cuda_decode(f, code);
    if (!std::isfinite(v)) continue;
    if (format_bits(f) == 16 && v != 0.0f && (std::fabs(v) < 0x1p-8f || std::fabs(v) > 0x1p8f)) continue;
    return code;
  }
}

// ---- 2. mma.sync -----------------------------------------------------------------------------------
uint32_t pack2(uint32_t lo, uint32_t hi) { return lo | (hi << 16); }
uint32_t pack4(uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
  return e0 | (e1 << 8) | (e2 << 16) | (e3 << 24);
}

// D = A B + C in double with the bound of an f32 accumulation of K terms.
void compare_mma(const char* what, int K, const std::vector<double>& A, const std::vector<double>& B,
                 const float (&C)[16][8], const float (&d)[32][4]) {
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2;
    const int t = lane % 4;
    // c0..c3: D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1]
    const int rows[4] = {g, g, g + 8, g + 8};
    const int cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
    for (int i = 0; i < 4; ++i) {
      const int r = rows[i];
      const int c = cols[i];
      double sum = C[r][c];
      double magnitude = std::fabs(static_cast<double>(C[r][c]));
      for (int k = 0; k < K; ++k) {
        sum += A[r * K + k] * B[k * 8 + c];
        magnitude += std::fabs(A[r * K + k] * B[k * 8 + c]);
      }
      const double tol = (K + 2) * std::ldexp(magnitude, -24) + 1e-30;
      const double got = d[lane][i];
      if (!(std::fabs(got - sum) <= tol))
        expect(false, what, format("lane %d d%d = D[%d][%d] = %.9g, expected %.9g (tol %.3g)", lane, i, r, c, got, sum, tol));
      else
        ++g_checks;
    }
  }
}

void check_mma_k16(Format f, std::mt19937_64& rng, int trials) {
  std::uniform_real_distribution<float> cdist(-4.0f, 4.0f);
  for (int trial = 0; trial < trials; ++trial) {
    uint32_t A[16][16];
    uint32_t B[16][8];
    float C[16][8];
    std::vector<double> Av(16 * 16), Bv(16 * 8);
    for (int r = 0; r < 16; ++r)
      for (int k = 0; k < 16; ++k) Av[r * 16 + k] = cuda_decode(f, A[r][k] = random_code(f, rng));
    for (int k = 0; k < 16; ++k)
      for (int c = 0; c < 8; ++c) Bv[k * 8 + c] = cuda_decode(f, B[k][c] = random_code(f, rng));
    for (auto& row : C)
      for (float& x : row) x = trial % 2 ? cdist(rng) : 0.0f;
    uint32_t a[32][4], b[32][2];
    float c[32][4], d[32][4];
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane >> 2;
      const int t = lane % 4;
      a[lane][0] = pack2(A[g][2 * t], A[g][2 * t + 1]);
      a[lane][1] = pack2(A[g + 8][2 * t], A[g + 8][2 * t + 1]);
      a[lane][2] = pack2(A[g][2 * t + 8], A[g][2 * t + 9]);
      a[lane][3] = pack2(A[g + 8][2 * t + 8], A[g + 8][2 * t + 9]);
      b[lane][0] = pack2(B[2 * t][g], B[2 * t + 1][g]);
      b[lane][1] = pack2(B[2 * t + 8][g], B[2 * t + 9][g]);
      c[lane][0] = C[g][2 * t];
      c[lane][1] = C[g][2 * t + 1];
      c[lane][2] = C[g + 8][2 * t];
      c[lane][3] = C[g + 8][2 * t + 1];
    }
    ptx::mma_m16n8k16(f, a, b, c, d);
    compare_mma(f == Format::BF16 ? "mma m16n8k16 bf16" : "mma m16n8k16 f16", 16, Av, Bv, C, d);
  }
}

void check_mma_k32(Format fa, Format fb, std::mt19937_64& rng, int trials) {
  std::uniform_real_distribution<float> cdist(-100.0f, 100.0f);
  const std::string what = std::string("mma m16n8k32 ") + name(fa) + "." + name(fb);
  for (int trial = 0; trial < trials; ++trial) {
    uint32_t A[16][32];
    uint32_t B[32][8];
    float C[16][8];
    std::vector<double> Av(16 * 32), Bv(32 * 8);
    for (int r = 0; r < 16; ++r)
      for (int k = 0; k < 32; ++k) Av[r * 32 + k] = cuda_decode(fa, A[r][k] = random_code(fa, rng));
    for (int k = 0; k < 32; ++k)
      for (int c = 0; c < 8; ++c) Bv[k * 8 + c] = cuda_decode(fb, B[k][c] = random_code(fb, rng));
    for (auto& row : C)
      for (float& x : row) x = trial % 2 ? cdist(rng) : 0.0f;
    uint32_t a[32][4], b[32][2];
    float c[32][4], d[32][4];
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane >> 2;
      const int t = lane % 4;
      a[lane][0] = pack4(A[g][4 * t], A[g][4 * t + 1], A[g][4 * t + 2], A[g][4 * t + 3]);
      a[lane][1] = pack4(A[g + 8][4 * t], A[g + 8][4 * t + 1], A[g + 8][4 * t + 2], A[g + 8][4 * t + 3]);
      a[lane][2] = pack4(A[g][4 * t + 16], A[g][4 * t + 17], A[g][4 * t + 18], A[g][4 * t + 19]);
      a[lane][3] = pack4(A[g + 8][4 * t + 16], A[g + 8][4 * t + 17], A[g + 8][4 * t + 18], A[g + 8][4 * t + 19]);
      b[lane][0] = pack4(B[4 * t][g], B[4 * t + 1][g], B[4 * t + 2][g], B[4 * t + 3][g]);
      b[lane][1] = pack4(B[4 * t + 16][g], B[4 * t + 17][g], B[4 * t + 18][g], B[4 * t + 19][g]);
      c[lane][0] = C[g][2 * t];
      c[lane][1] = C[g][2 * t + 1];
      c[lane][2] = C[g + 8][2 * t];
      c[lane][3] = C[g + 8][2 * t + 1];
    }
    ptx::mma_m16n8k32(fa, fb, a, b, c, d);
    compare_mma(what.c_str(), 32, Av, Bv, C, d);
  }
}

// ---- shared and global memory stand-ins -----------------------------------------------------------
struct Read {
  int lane;
  uint32_t address;
  size_t bytes;
};

// A shared window [0, size) that logs reads and refuses those outside it
// or touching `reject_address`.
struct FakeShared : ptx::SharedMemory {
  std::vector<uint8_t> bytes;
  std::vector<Read> reads;
  uint32_t reject_address = 0xFFFFFFFFu;
  explicit FakeShared(size_t size) : bytes(size, 0) {}
  bool read(int lane, uint32_t address, void* dst, size_t n) override {
    reads.push_back({lane, address, n});
    if (static_cast<uint64_t>(address) + n > bytes.size()) return false;
    if (reject_address >= address && reject_address < address + n) return false;
    std::memcpy(dst, &bytes[address], n);
    return true;
  }
};

struct FakeGlobal : ptx::GlobalMemory {
  uint64_t base;
  size_t size;
  size_t bytes_read = 0;
  int reads = 0;
  bool refuse = false;
  FakeGlobal(const void* p, size_t n) : base(reinterpret_cast<uintptr_t>(p)), size(n) {}
  bool read(uint64_t address, void* dst, size_t n) override {
    ++reads;
    if (refuse || address < base || address + n > base + size) return false;
    std::memcpy(dst, reinterpret_cast<const void*>(static_cast<uintptr_t>(address)), n);
    bytes_read += n;
    return true;
  }
};

// ---- 3. ldmatrix -------------------------------------------------------------------------------------
void check_ldmatrix(std::mt19937_64& rng, int trials) {
  FakeShared smem(4096);
  for (uint8_t& x : smem.bytes) x = static_cast<uint8_t>(rng());
  auto element = [&](uint32_t row_address, int column) {
    return static_cast<uint32_t>(smem.bytes[row_address + 2 * column] | (smem.bytes[row_address + 2 * column + 1] << 8));
  };
  for (int trial = 0; trial < trials; ++trial) {
    for (int num : {1, 2, 4}) {
      for (bool trans : {false, true}) {
        uint32_t address[32];
        for (int lane = 0; lane < 32; ++lane) {
          // Lanes past 8 * num name nothing: give them addresses that would
          // fault if used.
          address[lane] = lane < 8 * num ? static_cast<uint32_t>(rng() % 256) * 16 : 0xFFFFFFF3u;
        }
        uint32_t out[32][4];
        std::memset(out, 0, sizeof out);
        smem.reads.clear();
        std::string why;
        const bool ok = ptx::ldmatrix(num, trans, address, smem, out, &why);
        const std::string what = format("ldmatrix x%d%s", num, trans ? ".trans" : "");
        expect(ok, what.c_str(), "refused: " + why);
        if (!ok) continue;
        expect(smem.reads.size() == static_cast<size_t>(8 * num), what.c_str(),
               format("%zu reads, expected %d", smem.reads.size(), 8 * num));
        for (const Read& r : smem.reads)
          expect(r.lane >= 0 && r.lane < 8 * num && r.address == address[r.lane] && r.bytes == 16, what.c_str(),
                 format("read of %zu bytes at 0x%x on behalf of lane %d", r.bytes, r.address, r.lane));
        for (int l = 0; l < 32; ++l) {
          for (int j = 0; j < num; ++j) {
            // Matrix j's row i is at the address lane 8j + i gave.
            uint32_t want;
            if (!trans)
              want = element(address[8 * j + l / 4], 2 * (l % 4)) | (element(address[8 * j + l / 4], 2 * (l % 4) + 1) << 16);
            else
              want = element(address[8 * j + 2 * (l % 4)], l / 4) | (element(address[8 * j + 2 * (l % 4) + 1], l / 4) << 16);
            expect(out[l][j] == want, what.c_str(), format("lane %d reg %d = 0x%08x, expected 0x%08x", l, j, out[l][j], want));
          }
        }
      }
    }
  }
  // Refusals: a misaligned named row, a rejected read, a bad shape.
  uint32_t address[32];
  for (int lane = 0; lane < 32; ++lane) address[lane] = static_cast<uint32_t>(lane) * 16;
  uint32_t out[32][4];
  std::string why;
  address[5] = 5 * 16 + 8;
  expect(!ptx::ldmatrix(2, false, address, smem, out, &why) && why.find("lane 5") != std::string::npos &&
             why.find("0x58") != std::string::npos,
         "ldmatrix misaligned", "accepted or unclear: " + why);
  address[5] = 5 * 16;
  address[20] = 7;  // unused by x2
  why.clear();
  expect(ptx::ldmatrix(2, true, address, smem, out, &why), "ldmatrix unused lanes", "x2 looked at lane 20: " + why);
  why.clear();
  expect(!ptx::ldmatrix(4, false, address, smem, out, &why) && why.find("lane 20") != std::string::npos,
         "ldmatrix misaligned x4", "accepted or unclear: " + why);
  address[20] = 20 * 16;
  smem.reject_address = 9 * 16 + 3;
  why.clear();
  expect(!ptx::ldmatrix(4, false, address, smem, out, &why) && !why.empty(), "ldmatrix rejected read",
         "accepted a rejected read");
  smem.reject_address = 0xFFFFFFFFu;
  why.clear();
  expect(!ptx::ldmatrix(3, false, address, smem, out, &why) && !why.empty(), "ldmatrix x3", "accepted .x3");
}

// ---- 4. swizzle ---------------------------------------------------------------------------------------
// The chunk rule: 16-byte chunk c of 128-byte line L moves to c ^ (L mod
// 8, 4, 2) for 128B, 64B, 32B.
uint32_t chunk_rule(uint32_t a, int span) {
  const uint32_t line = a / 128;
  const uint32_t chunk = (a / 16) % 8;
  const uint32_t lines = span == 128 ? 8 : span == 64 ? 4 : span == 32 ? 2 : 1;
  return (a / 128) * 128 + (chunk ^ (line % lines)) * 16 + a % 16;
}

void check_swizzle() {
  for (int span : {0, 32, 64, 128}) {
    for (uint32_t a = 0; a < (1u << 18); ++a) {
      const uint32_t got = ptx::swizzle(a, span);
      if (got != chunk_rule(a, span))
        expect(false, "swizzle", format("span %d: 0x%x -> 0x%x, expected 0x%x", span, a, got, chunk_rule(a, span)));
      else
        ++g_checks;
    }
  }
  expect(ptx::swizzle(0x80, 128) == 0x90, "swizzle known", "128B 0x80");
  expect(ptx::swizzle(0x3F0, 128) == 0x380, "swizzle known", "128B 0x3F0");
  expect(ptx::swizzle(0x1A5, 64) == 0x195, "swizzle known", "64B 0x1A5");
  expect(ptx::swizzle(0x1A5, 32) == 0x1B5, "swizzle known", "32B 0x1A5");
  expect(ptx::swizzle(0x12345, 0) == 0x12345, "swizzle known", "none");
}

// ---- 5. descriptors ---------------------------------------------------------------------------------------
// [13:0] start, [29:16] LBO, [45:32] SBO, each (x & 0x3FFFF) >> 4; [51:49]
// base offset; [63:62] layout (0 none, 1 128B, 2 64B, 3 32B).
uint64_t encode_descriptor(uint32_t start, uint32_t lbo, uint32_t sbo, uint32_t base, uint32_t layout) {
  return static_cast<uint64_t>((start & 0x3FFFFu) >> 4) | (static_cast<uint64_t>((lbo & 0x3FFFFu) >> 4) << 16) |
         (static_cast<uint64_t>((sbo & 0x3FFFFu) >> 4) << 32) | (static_cast<uint64_t>(base & 7u) << 49) |
         (static_cast<uint64_t>(layout & 3u) << 62);
}

void check_descriptors(std::mt19937_64& rng, int trials) {
  // By hand: start 0x2A400 -> field 0x2A40, LBO 16 -> 1, SBO 1024 -> 0x40,
  // base 5 -> bits 49..51, layout 1 (128B) -> bit 62.
  const uint64_t hand = 0x400A004000012A40ull;
  expect(encode_descriptor(0x2A400, 16, 1024, 5, 1) == hand, "descriptor encode", "the check's own encoder");
  const ptx::MatrixDescriptor d = ptx::decode_descriptor(hand);
  expect(d.start_address == 0x2A400 && d.leading_byte_offset == 16 && d.stride_byte_offset == 1024 &&
             d.base_offset == 5 && d.swizzle_span == 128,
         "descriptor decode",
         format("start 0x%x lbo %u sbo %u base %u span %d", d.start_address, d.leading_byte_offset,
                d.stride_byte_offset, d.base_offset, d.swizzle_span));
  const int spans[4] = {0, 128, 64, 32};
  const uint64_t unused_bits = (3ull << 14) | (3ull << 30) | (7ull << 46) | (0x3FFull << 52);
  for (int trial = 0; trial < trials; ++trial) {
    const uint32_t start = static_cast<uint32_t>(rng() & 0x3FFF0u);
    const uint32_t lbo = static_cast<uint32_t>(rng() & 0x3FFF0u);
    const uint32_t sbo = static_cast<uint32_t>(rng() & 0x3FFF0u);
    const uint32_t base = static_cast<uint32_t>(rng() & 7u);
    const uint32_t layout = static_cast<uint32_t>(rng() & 3u);
    const uint64_t desc = encode_descriptor(start, lbo, sbo, base, layout) | (rng() & unused_bits);
    const ptx::MatrixDescriptor e = ptx::decode_descriptor(desc);
    expect(e.start_address == start && e.leading_byte_offset == lbo && e.stride_byte_offset == sbo &&
               e.base_offset == base && e.swizzle_span == spans[layout],
           "descriptor round trip", format("0x%016llx", static_cast<unsigned long long>(desc)));
  }
}

// ---- 6. wgmma -----------------------------------------------------------------------------------------------
// The swizzle modes as their bit XORs: 128B bits 4-6 ^= bits 7-9, 64B bits
// 4-5 ^= bits 7-8, 32B bit 4 ^= bit 7.
uint32_t xor_swizzle(uint32_t a, int span) {
  if (span == 128) return a ^ (((a >> 7) & 7u) << 4);
  if (span == 64) return a ^ (((a >> 7) & 3u) << 4);
  if (span == 32) return a ^ (((a >> 7) & 1u) << 4);
  return a;
}

// Places a rows x kbytes K-major operand: byte k of row r at
// swizzle(start + (r/8) SBO + (r%8) span + k).
void place_operand(FakeShared& smem, uint32_t start, uint32_t sbo, int span, int rows, int kbytes,
                   const std::vector<uint8_t>& m) {
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < kbytes; ++k)
      smem.bytes[xor_swizzle(start + (r / 8) * sbo + (r % 8) * span + k, span)] = m[r * kbytes + k];
}

uint8_t random_e4m3(std::mt19937_64& rng) {
  for (;;) {
    const uint8_t code = static_cast<uint8_t>(rng());
    if ((code & 0x7F) != 0x7F) return code;
  }
}

// acc (64 x n) after K/32 K-stepped instructions over A (64 x K) and B
// (n x K), from a 128B/64B/32B image; scale-d off on the first step when
// `from_zero`.
void check_wgmma_case(int n, int span, uint32_t a_start, bool from_zero, std::mt19937_64& rng) {
  const int K = span;  // one swizzle row of K bytes: span / 32 instructions
  const uint32_t sbo = 8 * span;
  const uint32_t b_start = 0x8000;
  FakeShared smem(0x10000);
  for (uint8_t& x : smem.bytes) x = 0x7F;  // NaN wherever nothing was placed
  std::vector<uint8_t> A(64 * K), B(n * K);
  for (uint8_t& x : A) x = random_e4m3(rng);
  for (uint8_t& x : B) x = random_e4m3(rng);
  place_operand(smem, a_start, sbo, span, 64, K, A);
  place_operand(smem, b_start, sbo, span, n, K, B);
  std::uniform_real_distribution<float> cdist(-1000.0f, 1000.0f);
  std::vector<float> C(64 * n), acc(64 * n);
  for (size_t i = 0; i < C.size(); ++i) acc[i] = C[i] = cdist(rng);
  const uint32_t layout = span == 128 ? 1 : span == 64 ? 2 : 3;
  const std::string what = format("wgmma m64n%dk32 %dB%s%s", n, span, from_zero ? " scale-d off" : " scale-d on",
                                  a_start % 1024 ? " unaligned A" : "");
  for (int step = 0; step < K / 32; ++step) {
    const uint32_t as = a_start + 32 * step;
    const uint32_t bs = b_start + 32 * step;
    // 128B: base offset (start >> 7) & 7, 0 on a pattern boundary.
    const uint32_t a_base = span == 128 ? (as >> 7) & 7 : 0;
    const uint64_t da = encode_descriptor(as, 0, sbo, a_base, layout);
    const uint64_t db = encode_descriptor(bs, 0, sbo, 0, layout);
    std::string why;
    if (!ptx::wgmma_m64nk32_e4m3(n, da, db, !(from_zero && step == 0), smem, acc.data(), &why)) {
      expect(false, what.c_str(), "refused: " + why);
      return;
    }
    for (const Read& r : smem.reads)
      if (r.lane != -1) expect(false, what.c_str(), format("read on behalf of lane %d", r.lane));
  }
  for (int r = 0; r < 64; ++r) {
    for (int c = 0; c < n; ++c) {
      double sum = from_zero ? 0.0 : C[r * n + c];
      double magnitude = std::fabs(sum);
      for (int k = 0; k < K; ++k) {
        const double p = static_cast<double>(cuda_decode(Format::E4M3, A[r * K + k])) * cuda_decode(Format::E4M3, B[c * K + k]);
        sum += p;
        magnitude += std::fabs(p);
      }
      const double tol = (K + 2) * std::ldexp(magnitude, -24) + 1e-30;
      const double got = acc[r * n + c];
      if (!(std::fabs(got - sum) <= tol))
        expect(false, what.c_str(), format("D[%d][%d] = %.9g, expected %.9g (tol %.3g)", r, c, got, sum, tol));
      else
        ++g_checks;
    }
  }
}

void check_wgmma(std::mt19937_64& rng) {
  for (int n : {8, 16, 64, 256}) {
    check_wgmma_case(n, 128, 0x1000, true, rng);
    check_wgmma_case(n, 128, 0x1000, false, rng);
  }
  check_wgmma_case(16, 128, 0x1000 + 3 * 128, false, rng);  // pattern starts on line 3: base offset 3
  check_wgmma_case(16, 64, 0x1000, true, rng);
  check_wgmma_case(64, 64, 0x1200, false, rng);
  check_wgmma_case(16, 32, 0x1000, false, rng);
  check_wgmma_case(24, 32, 0x1100, true, rng);

  // Refusals, each leaving acc alone.
  FakeShared smem(0x10000);
  std::vector<float> acc(64 * 16, 1.5f);
  const uint64_t good_a = encode_descriptor(0x1000, 0, 1024, 0, 1);
  const uint64_t good_b = encode_descriptor(0x4000, 0, 1024, 0, 1);
  std::string why;
  expect(ptx::wgmma_m64nk32_e4m3(16, good_a, good_b, true, smem, acc.data(), &why), "wgmma baseline", why);
  std::fill(acc.begin(), acc.end(), 1.5f);
  struct Bad {
    const char* what;
    int n;
    uint64_t a;
    uint64_t b;
    const char* why_contains;
  };
  smem.reject_address = 0x4000 + 1024 + 5;  // row 8 of B, line 0 of its pattern: unswizzled
  const Bad bad[] = {
      {"n = 12", 12, good_a, good_b, "n = 12"},
      {"n = 264", 264, good_a, good_b, "n = 264"},
      {"n = 0", 0, good_a, good_b, "n = 0"},
      {"layout none", 16, encode_descriptor(0x1000, 0, 1024, 0, 0), good_b, "not supported by the emulation"},
      {"base offset 0 on line 3", 16, encode_descriptor(0x1180, 0, 1024, 0, 1), good_b, "base offset"},
      {"base offset 2 on a boundary", 16, good_a, encode_descriptor(0x4000, 0, 1024, 2, 1), "base offset"},
      {"rejected read", 16, good_a, encode_descriptor(0x4000, 0, 1024, 0, 1), "rejected"},
  };
  for (const Bad& x : bad) {
    why.clear();
    const bool ok = ptx::wgmma_m64nk32_e4m3(x.n, x.a, x.b, true, smem, acc.data(), &why);
    expect(!ok && why.find(x.why_contains) != std::string::npos, "wgmma refusal",
           format("%s: %s (%s)", x.what, ok ? "accepted" : "refused", why.c_str()));
    bool untouched = true;
    for (float v : acc) untouched = untouched && v == 1.5f;
    expect(untouched, "wgmma refusal", format("%s: acc was written", x.what));
  }
}

// ---- 6b. wgmma bf16 -----------------------------------------------------------------------------------------
// m64nNk16 bf16 from images placed by the ISA's canonical layouts, written
// here from the table (T = span / 2 elements per swizzle row):
//   K-major  element (r, k):  swizzle(start + (r/8) SBO + (r%8) span + 2k)
//   MN-major element (mn, k): swizzle(start + (mn/T) LBO + (k/8) SBO + (k%8) span + 2 (mn%T))
// Four K-stepped instructions (K = 64): a K-major start moves 32 bytes
// along the row, an MN-major one two 8-row groups (2 SBO).
void place_bf16(FakeShared& smem, bool mn_major, uint32_t start, uint32_t lbo, uint32_t sbo, int span, int rows, int K,
                const std::vector<uint16_t>& m) {
  const int T = span / 2;
  for (int r = 0; r < rows; ++r) {
    for (int k = 0; k < K; ++k) {
      const uint32_t linear = mn_major ? start + (r / T) * lbo + (k / 8) * sbo + (k % 8) * span + 2 * (r % T)
                                       : start + (r / 8) * sbo + (r % 8) * span + 2 * k;
      const uint32_t a = xor_swizzle(linear, span);
      smem.bytes[a] = static_cast<uint8_t>(m[r * K + k] & 0xFF);
      smem.bytes[a + 1] = static_cast<uint8_t>(m[r * K + k] >> 8);
    }
  }
}

uint16_t random_bf16(std::mt19937_64& rng) {
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  const __nv_bfloat16 b = __float2bfloat16(dist(rng));
  uint16_t bits;
  std::memcpy(&bits, &b, 2);
  return bits;
}

void check_wgmma_bf16_case(int n, int span, int trans_a, int trans_b, bool from_zero, std::mt19937_64& rng) {
  const int K = 64;
  const uint32_t layout = span == 128 ? 1 : span == 64 ? 2 : 3;
  FakeShared smem(0x20000);
  for (uint8_t& x : smem.bytes) x = 0xFF;  // NaN wherever nothing was placed
  std::vector<uint16_t> A(64 * K), B(n * K);
  for (uint16_t& x : A) x = random_bf16(rng);
  for (uint16_t& x : B) x = random_bf16(rng);
  // K-major operands are one 128B row of K = 64 values (as the kernels hold them); MN-major ones use `span`,
  // their MN atoms placed after all eight 8-row K groups.
  const uint32_t a_start = 0x1000, b_start = 0x10000;
  const uint32_t a_sbo = trans_a ? 8 * span : 8 * 128;
  const uint32_t a_lbo = trans_a ? (K / 8) * 8 * span : 0;  // MN atoms after all K groups
  const uint32_t b_sbo = trans_b ? 8 * span : 8 * 128;
  const uint32_t b_lbo = trans_b ? (K / 8) * 8 * span : 0;
  place_bf16(smem, trans_a, a_start, a_lbo, a_sbo, trans_a ? span : 128, 64, K, A);
  place_bf16(smem, trans_b, b_start, b_lbo, b_sbo, trans_b ? span : 128, n, K, B);
  std::uniform_real_distribution<float> cdist(-100.0f, 100.0f);
  std::vector<float> C(64 * n), acc(64 * n);
  for (size_t i = 0; i < C.size(); ++i) acc[i] = C[i] = cdist(rng);
  const std::string what = format("wgmma m64n%dk16 bf16 %dB A %s B %s%s", n, span, trans_a ? "MN" : "K", trans_b ? "MN" : "K",
                                  from_zero ? " scale-d off" : " scale-d on");
  for (int step = 0; step < K / 16; ++step) {
    const uint32_t as = trans_a ? a_start + 2 * a_sbo * step : a_start + 32 * step;
    const uint32_t bs = trans_b ? b_start + 2 * b_sbo * step : b_start + 32 * step;
    const uint64_t da = encode_descriptor(as, a_lbo, a_sbo, 0, trans_a ? layout : 1);
    const uint64_t db = encode_descriptor(bs, b_lbo, b_sbo, 0, trans_b ? layout : 1);
    std::string why;
    if (!ptx::wgmma_m64nk16_bf16(n, da, db, !(from_zero && step == 0), trans_a, trans_b, smem, acc.data(), &why)) {
      expect(false, what.c_str(), "refused: " + why);
      return;
    }
  }
  for (int r = 0; r < 64; ++r) {
    for (int c = 0; c < n; ++c) {
      double sum = from_zero ? 0.0 : C[r * n + c];
      double magnitude = std::fabs(sum);
      for (int k = 0; k < K; ++k) {
        const double p = static_cast<double>(cuda_decode(Format::BF16, A[r * K + k])) * cuda_decode(Format::BF16, B[c * K + k]);
        sum += p;
        magnitude += std::fabs(p);
      }
      const double tol = (K + 2) * std::ldexp(magnitude, -24) + 1e-30;
      const double got = acc[r * n + c];
      if (!(std::fabs(got - sum) <= tol))
        expect(false, what.c_str(), format("D[%d][%d] = %.9g, expected %.9g (tol %.3g)", r, c, got, sum, tol));
      else
        ++g_checks;
    }
  }
}

void check_wgmma_bf16(std::mt19937_64& rng) {
  for (int n : {8, 64, 256}) {
    for (int tb : {0, 1}) {
      check_wgmma_bf16_case(n, 128, 0, tb, true, rng);
      check_wgmma_bf16_case(n, 128, 0, tb, false, rng);
    }
  }
  check_wgmma_bf16_case(64, 128, 1, 1, false, rng);
  check_wgmma_bf16_case(32, 64, 0, 1, false, rng);
  check_wgmma_bf16_case(16, 32, 1, 1, true, rng);

  // A literal point: MN-major 128B, element (mn 9, k 3) of B alone nonzero
  // (2.0), A all 1.0: column 9 of D is 2, the rest 0. Linear address
  // 0x4000 + 3 * 128 + 2 * 9 = 0x4192; its line is 3, so chunk 1 moves to
  // chunk 1 ^ 3 = 2: the bytes sit at 0x41A2.
  FakeShared smem(0x10000);
  for (int r = 0; r < 64; ++r)
    for (int k = 0; k < 16; ++k) {
      const uint32_t a = xor_swizzle(0x1000 + (r / 8) * 1024 + (r % 8) * 128 + 2 * k, 128);
      smem.bytes[a] = 0x80;
      smem.bytes[a + 1] = 0x3F;  // bf16 1.0
    }
  smem.bytes[0x41A2] = 0x00;
  smem.bytes[0x41A3] = 0x40;  // bf16 2.0
  std::vector<float> acc(64 * 16, 7.0f);
  std::string why;
  const bool ok = ptx::wgmma_m64nk16_bf16(16, encode_descriptor(0x1000, 0, 1024, 0, 1), encode_descriptor(0x4000, 8192, 1024, 0, 1),
                                          false, 0, 1, smem, acc.data(), &why);
  bool right = ok;
  for (int r = 0; r < 64 && right; ++r)
    for (int c = 0; c < 16; ++c) right = right && acc[r * 16 + c] == (c == 9 ? 2.0f : 0.0f);
  expect(right, "wgmma bf16 MN-major literal point", ok ? "wrong product" : why);
  // Refusals: a transpose immediate outside {0, 1}, layout none.
  why.clear();
  expect(!ptx::wgmma_m64nk16_bf16(16, encode_descriptor(0x1000, 0, 1024, 0, 1), encode_descriptor(0x4000, 8192, 1024, 0, 1), false,
                                  0, 2, smem, acc.data(), &why) && why.find("imm-trans") != std::string::npos,
         "wgmma bf16 refusal", "trans 2: " + why);
  why.clear();
  expect(!ptx::wgmma_m64nk16_bf16(16, encode_descriptor(0x1000, 0, 1024, 0, 1), encode_descriptor(0x4000, 8192, 1024, 0, 0), false,
                                  0, 1, smem, acc.data(), &why) && why.find("not supported") != std::string::npos,
         "wgmma bf16 refusal", "layout none: " + why);
}

void check_accumulator_coord() {
  for (int n = 8; n <= 256; n += 8) {
    std::vector<int> seen(64 * n, 0);
    bool ok = true;
    for (int thread = 0; thread < 128; ++thread) {
      for (int reg = 0; reg < n / 2; ++reg) {
        int row = -1, col = -1;
        ptx::wgmma_accumulator_coord(n, thread, reg, &row, &col);
        if (row < 0 || row >= 64 || col < 0 || col >= n || seen[row * n + col]++) {
          ok = false;
          expect(false, "wgmma accumulator coord", format("n %d thread %d reg %d -> (%d, %d)", n, thread, reg, row, col));
          break;
        }
      }
      if (!ok) break;
    }
    ++g_checks;
  }
  // Literal points: thread 37 = warp 1, lane 5 (g 1, t 1); reg 5 = 4*1 + 2*0 + 1.
  struct Point {
    int n, thread, reg, row, col;
  };
  const Point points[] = {{16, 0, 0, 0, 0}, {16, 37, 5, 17, 11}, {64, 127, 31, 63, 63}, {8, 66, 2, 32 + 8, 4 + 0}};
  for (const Point& p : points) {
    int row = -1, col = -1;
    ptx::wgmma_accumulator_coord(p.n, p.thread, p.reg, &row, &col);
    expect(row == p.row && col == p.col, "wgmma accumulator coord",
           format("n %d thread %d reg %d -> (%d, %d), expected (%d, %d)", p.n, p.thread, p.reg, row, col, p.row, p.col));
  }
}

// ---- 7. tensor maps ----------------------------------------------------------------------------------------
// CUDA's enum values (cuda.h).
constexpr int DT_UINT8 = 0, DT_FLOAT32 = 7, DT_BFLOAT16 = 9;
constexpr int SW_NONE = 0, SW_32B = 1, SW_64B = 2, SW_128B = 3;

struct EncodeArgs {
  int data_type = DT_BFLOAT16;
  uint32_t rank = 2;
  const void* address = nullptr;
  uint64_t dim[5] = {40, 20, 1, 1, 1};
  uint64_t stride[4] = {96, 0, 0, 0};
  uint32_t box[5] = {32, 8, 1, 1, 1};
  uint32_t estride[5] = {1, 1, 1, 1, 1};
  int interleave = 0;
  int swizzle = SW_128B;
  int l2 = 0;
  int oob = 0;
  bool encode(ptx::TensorMap* map, std::string* why) const {
    return ptx::encode_tensor_map_tiled(map, data_type, rank, address, dim, stride, box, estride, interleave, swizzle,
                                        l2, oob, why);
  }
};

alignas(64) uint16_t g_tensor[20 * 48];  // 40 x 20 bf16 codes, rows padded to 48 elements (96 bytes)

void check_tensor_map_encode() {
  EncodeArgs base;
  base.address = g_tensor;
  ptx::TensorMap map;
  std::string why;
  expect(base.encode(&map, &why), "tensor map baseline", why);
  expect(map.magic == ptx::TENSOR_MAP_MAGIC && map.rank == 2 && map.element_bytes == 2 && map.swizzle_span == 128 &&
             map.global_stride[0] == 2 && map.global_stride[1] == 96 && map.global_dim[1] == 20 && map.box_dim[0] == 32 &&
             map.is_float == 1 && map.oob_fill_nan == 0 && map.global_address == reinterpret_cast<uintptr_t>(g_tensor),
         "tensor map fields", "the encoded map does not hold the arguments");
  expect(ptx::tensor_map_box_bytes(map) == 32 * 8 * 2, "tensor map box bytes",
         format("%zu", ptx::tensor_map_box_bytes(map)));

  struct Case {
    const char* what;
    bool valid;
    void (*edit)(EncodeArgs&);
  };
  const Case cases[] = {
      {"rank 0", false, [](EncodeArgs& a) { a.rank = 0; }},
      {"rank 6", false, [](EncodeArgs& a) { a.rank = 6; }},
      {"rank 5", true, [](EncodeArgs& a) { a.rank = 5; a.stride[1] = a.stride[2] = a.stride[3] = 2048; }},
      {"address 8-byte aligned", false, [](EncodeArgs& a) { a.address = reinterpret_cast<const char*>(a.address) + 8; }},
      {"address 16-byte aligned", true, [](EncodeArgs& a) { a.address = reinterpret_cast<const char*>(a.address) + 16; }},
      {"globalDim 0", false, [](EncodeArgs& a) { a.dim[0] = 0; }},
      {"globalDim 2^32 + 1", false, [](EncodeArgs& a) { a.dim[1] = (1ull << 32) + 1; }},
      {"globalDim 2^32", true, [](EncodeArgs& a) { a.dim[1] = 1ull << 32; }},
      {"globalStride 100", false, [](EncodeArgs& a) { a.stride[0] = 100; }},
      {"globalStride 2^40", false, [](EncodeArgs& a) { a.stride[0] = 1ull << 40; }},
      {"globalStride 2^40 - 16", true, [](EncodeArgs& a) { a.stride[0] = (1ull << 40) - 16; }},
      {"boxDim 0", false, [](EncodeArgs& a) { a.box[1] = 0; }},
      {"boxDim 257", false, [](EncodeArgs& a) { a.box[1] = 257; }},
      {"boxDim 256", true, [](EncodeArgs& a) { a.box[1] = 256; }},
      {"box inner 40 bytes", false, [](EncodeArgs& a) { a.box[0] = 20; }},
      {"box inner 256 bytes, 128B swizzle", false, [](EncodeArgs& a) { a.box[0] = 128; }},
      {"box inner 256 bytes, no swizzle", true, [](EncodeArgs& a) { a.box[0] = 128; a.swizzle = SW_NONE; }},
      {"box inner 128 bytes, 64B swizzle", false, [](EncodeArgs& a) { a.box[0] = 64; a.swizzle = SW_64B; }},
      {"box inner 64 bytes, 64B swizzle", true, [](EncodeArgs& a) { a.box[0] = 32; a.swizzle = SW_64B; }},
      {"box inner 64 bytes, 32B swizzle", false, [](EncodeArgs& a) { a.box[0] = 32; a.swizzle = SW_32B; }},
      {"box inner 32 bytes, 32B swizzle", true, [](EncodeArgs& a) { a.box[0] = 16; a.swizzle = SW_32B; }},
      {"elementStride 0", false, [](EncodeArgs& a) { a.estride[1] = 0; }},
      {"elementStride 9", false, [](EncodeArgs& a) { a.estride[1] = 9; }},
      {"elementStride 8", true, [](EncodeArgs& a) { a.estride[1] = 8; }},
      {"NaN fill, uint8", false, [](EncodeArgs& a) { a.data_type = DT_UINT8; a.box[0] = 64; a.oob = 1; }},
      {"NaN fill, float32", true, [](EncodeArgs& a) { a.data_type = DT_FLOAT32; a.box[0] = 16; a.oob = 1; }},
      {"oobFill 2", false, [](EncodeArgs& a) { a.oob = 2; }},
      {"interleave 16B", false, [](EncodeArgs& a) { a.interleave = 1; }},
      {"interleave 32B", false, [](EncodeArgs& a) { a.interleave = 2; a.swizzle = SW_32B; a.box[0] = 16; }},
      {"data type 13", false, [](EncodeArgs& a) { a.data_type = 13; }},
      {"data type -1", false, [](EncodeArgs& a) { a.data_type = -1; }},
      {"swizzle 4", false, [](EncodeArgs& a) { a.swizzle = 4; }},
      {"L2 promotion 4", false, [](EncodeArgs& a) { a.l2 = 4; }},
      {"L2 promotion 256B", true, [](EncodeArgs& a) { a.l2 = 3; }},
  };
  for (const Case& c : cases) {
    EncodeArgs args = base;
    c.edit(args);
    why.clear();
    const bool ok = args.encode(&map, &why);
    expect(ok == c.valid && (ok || !why.empty()), "tensor map encode",
           format("%s: %s%s%s", c.what, ok ? "accepted" : "refused", ok ? "" : ": ", why.c_str()));
  }
}

// The expected box: dense (dim 0 fastest), element at box index i from the
// tensor at coords + i when every coordinate is inside, else `fill`; then
// byte o to xor_swizzle(dst + o) - dst.
std::vector<uint8_t> expected_box(const EncodeArgs& a, const int32_t* coords, uint32_t dst, const uint8_t* fill,
                                  int element_bytes, int span) {
  uint32_t box[5] = {1, 1, 1, 1, 1};
  for (uint32_t d = 0; d < a.rank; ++d) box[d] = a.box[d];
  std::vector<uint8_t> dense;
  for (uint32_t i4 = 0; i4 < box[4]; ++i4)
    for (uint32_t i3 = 0; i3 < box[3]; ++i3)
      for (uint32_t i2 = 0; i2 < box[2]; ++i2)
        for (uint32_t i1 = 0; i1 < box[1]; ++i1)
          for (uint32_t i0 = 0; i0 < box[0]; ++i0) {
            const uint32_t i[5] = {i0, i1, i2, i3, i4};
            bool inside = true;
            uint64_t offset = 0;
            for (uint32_t d = 0; d < a.rank; ++d) {
              const int64_t c = static_cast<int64_t>(coords[d]) + i[d];
              if (c < 0 || c >= static_cast<int64_t>(a.dim[d])) inside = false;
              offset += static_cast<uint64_t>(inside ? c : 0) * (d == 0 ? element_bytes : a.stride[d - 1]);
            }
            const uint8_t* src = inside ? reinterpret_cast<const uint8_t*>(a.address) + offset : fill;
            dense.insert(dense.end(), src, src + element_bytes);
          }
  std::vector<uint8_t> placed(dense.size());
  for (uint32_t o = 0; o < dense.size(); ++o) placed[xor_swizzle(dst + o, span) - dst] = dense[o];
  return placed;
}

void check_tma_case(const char* what, const EncodeArgs& args, size_t global_bytes, const int32_t* coords, uint32_t dst,
                    int element_bytes, int span, const uint8_t* fill, size_t in_bounds_bytes) {
  ptx::TensorMap map;
  std::string why;
  if (!args.encode(&map, &why)) return expect(false, what, "encode refused: " + why);
  const size_t bytes = ptx::tensor_map_box_bytes(map);
  std::vector<uint8_t> box(bytes, 0xCD);
  FakeGlobal gmem(args.address, global_bytes);
  if (!ptx::tma_load_tile(map, coords, dst, gmem, box.data(), &why)) return expect(false, what, "refused: " + why);
  const std::vector<uint8_t> want = expected_box(args, coords, dst, fill, element_bytes, span);
  expect(want.size() == bytes, what, format("box bytes %zu, expected %zu", bytes, want.size()));
  for (size_t o = 0; o < bytes && o < want.size(); ++o) {
    if (box[o] != want[o]) {
      expect(false, what, format("box byte %zu = 0x%02x, expected 0x%02x", o, box[o], want[o]));
      break;
    }
  }
  expect(gmem.bytes_read == in_bounds_bytes, what,
         format("read %zu global bytes, expected the %zu in bounds", gmem.bytes_read, in_bounds_bytes));
}

void check_tma(std::mt19937_64& rng) {
  // 2D bf16, 40 x 20, rows padded with a sentinel a load must never copy.
  for (int r = 0; r < 20; ++r)
    for (int c = 0; c < 48; ++c) g_tensor[r * 48 + c] = c < 40 ? static_cast<uint16_t>(rng() | 1u) : 0xDEADu;
  EncodeArgs a2;
  a2.address = g_tensor;
  const uint8_t zero[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  struct Load {
    int32_t c0, c1;
    uint32_t dst;
    size_t in_bounds;  // elements
  };
  const Load loads[] = {
      {0, 0, 0x2000, 32 * 8},     // inside
      {24, 16, 0x2000, 16 * 4},   // past the right and bottom edges
      {-8, -3, 0x2400, 24 * 5},   // before the left and top edges
      {8, 12, 0x10000, 32 * 8},   // inside, high destination
      {40, 0, 0x2000, 0},         // wholly right of the tensor
      {-32, 5, 0x2000, 0},        // wholly left
      {0, -8, 0x2000, 0},         // wholly above
      {30, -7, 0x2000, 10 * 1},   // one corner element row
  };
  for (const Load& l : loads) {
    const int32_t coords[2] = {l.c0, l.c1};
    const std::string what = format("tma 2D bf16 128B at (%d, %d) to 0x%x", l.c0, l.c1, l.dst);
    check_tma_case(what.c_str(), a2, sizeof g_tensor, coords, l.dst, 2, 128, zero, l.in_bounds * 2);
  }
  // 64B and 32B swizzle, one-byte elements.
  alignas(64) static uint8_t bytes2d[9 * 112];
  for (uint8_t& x : bytes2d) x = static_cast<uint8_t>(rng() | 1u);
  EncodeArgs u8 = a2;
  u8.address = bytes2d;
  u8.data_type = DT_UINT8;
  u8.dim[0] = 100;
  u8.dim[1] = 9;
  u8.stride[0] = 112;
  u8.box[0] = 64;
  u8.box[1] = 6;
  u8.swizzle = SW_64B;
  {
    const int32_t coords[2] = {50, 5};
    check_tma_case("tma 2D u8 64B", u8, sizeof bytes2d, coords, 0x600, 1, 64, zero, 50 * 4);
  }
  u8.box[0] = 32;
  u8.swizzle = SW_32B;
  {
    const int32_t coords[2] = {-10, -2};
    check_tma_case("tma 2D u8 32B", u8, sizeof bytes2d, coords, 0x300, 1, 32, zero, 22 * 4);
  }
  // 3D f32, no swizzle, NaN fill: partly outside in every dimension.
  alignas(64) static float f3d[3 * 5 * 8];
  for (float& x : f3d) x = static_cast<float>(rng() % 1000) + 0.5f;
  EncodeArgs f3;
  f3.address = f3d;
  f3.data_type = DT_FLOAT32;
  f3.rank = 3;
  f3.dim[0] = 8;
  f3.dim[1] = 5;
  f3.dim[2] = 3;
  f3.stride[0] = 32;
  f3.stride[1] = 160;
  f3.box[0] = 4;
  f3.box[1] = 4;
  f3.box[2] = 2;
  f3.swizzle = SW_NONE;
  f3.oob = 1;
  {
    const int32_t coords[3] = {6, 3, 2};
    ptx::TensorMap map;
    std::string why;
    std::vector<float> box(32, 0.0f);
    FakeGlobal gmem(f3d, sizeof f3d);
    const bool ok = f3.encode(&map, &why) &&
                    ptx::tma_load_tile(map, coords, 0x80, gmem, reinterpret_cast<uint8_t*>(box.data()), &why);
    expect(ok && ptx::tensor_map_box_bytes(map) == 128, "tma 3D f32 NaN fill", "refused: " + why);
    for (int i2 = 0; ok && i2 < 2; ++i2)
      for (int i1 = 0; i1 < 4; ++i1)
        for (int i0 = 0; i0 < 4; ++i0) {
          const int x = 6 + i0, y = 3 + i1, z = 2 + i2;
          const bool inside = x < 8 && y < 5 && z < 3;
          const float got = box[(i2 * 4 + i1) * 4 + i0];
          const bool good = inside ? got == f3d[(z * 5 + y) * 8 + x] : std::isnan(got);
          expect(good, "tma 3D f32 NaN fill", format("box (%d, %d, %d) = %g", i0, i1, i2, static_cast<double>(got)));
        }
    expect(gmem.bytes_read == 2 * 2 * 4, "tma 3D f32 NaN fill", format("read %zu bytes", gmem.bytes_read));
  }
  // Refusals.
  {
    ptx::TensorMap map;
    std::string why;
    a2.encode(&map, &why);
    std::vector<uint8_t> box(512);
    FakeGlobal gmem(g_tensor, sizeof g_tensor);
    const int32_t coords[2] = {0, 0};
    struct Refusal {
      const char* what;
      uint32_t dst;
    };
    for (const Refusal& r : {Refusal{"128B to 0x2200 (512-aligned)", 0x2200}, Refusal{"128B to 0x2010", 0x2010}}) {
      why.clear();
      expect(!ptx::tma_load_tile(map, coords, r.dst, gmem, box.data(), &why) && why.find("aligned") != std::string::npos,
             "tma misaligned destination", format("%s: %s", r.what, why.c_str()));
    }
    EncodeArgs none = a2;
    none.swizzle = SW_NONE;
    none.encode(&map, &why);
    why.clear();
    expect(!ptx::tma_load_tile(map, coords, 0x2040, gmem, box.data(), &why), "tma misaligned destination",
           "no swizzle to 0x2040 accepted");
    why.clear();
    expect(ptx::tma_load_tile(map, coords, 0x2080, gmem, box.data(), &why), "tma no-swizzle destination",
           "0x2080 refused: " + why);
    EncodeArgs strided = a2;
    strided.estride[1] = 2;
    strided.encode(&map, &why);
    why.clear();
    expect(!ptx::tma_load_tile(map, coords, 0x2000, gmem, box.data(), &why) && !why.empty(), "tma element stride",
           "elementStrides 2 loaded");
    a2.encode(&map, &why);
    gmem.refuse = true;
    why.clear();
    expect(!ptx::tma_load_tile(map, coords, 0x2000, gmem, box.data(), &why) && why.find("rejected") != std::string::npos,
           "tma rejected read", why);
    ptx::TensorMap blank;
    std::memset(&blank, 0, sizeof blank);
    why.clear();
    expect(!ptx::tma_load_tile(blank, coords, 0x2000, gmem, box.data(), &why), "tma unencoded map", "accepted");
  }
}

// ---- 8. mbarrier -----------------------------------------------------------------------------------------
void check_mbarrier() {
  ptx::Mbarrier b;
  std::string why;
  bool done = true;
  expect(!ptx::mbarrier_test_parity(b, 0) && !ptx::mbarrier_test_parity(b, 1), "mbarrier uninitialised parity",
         "a wait on an uninitialised barrier succeeded");
  expect(!ptx::mbarrier_arrive(b, 1, &done, &why) && !done, "mbarrier uninitialised arrive", "accepted");
  expect(ptx::mbarrier_init(b, 2, &why), "mbarrier init", why);
  // Right after init the phase before phase 0 (parity 1) reads as complete.
  expect(ptx::mbarrier_test_parity(b, 1) && !ptx::mbarrier_test_parity(b, 0), "mbarrier parity after init",
         "parity 1 should pass, parity 0 wait");
  expect(!ptx::mbarrier_init(b, 2, &why), "mbarrier re-init", "accepted without inval");

  // Phase 0: both arrivals in before the bytes.
  expect(ptx::mbarrier_expect_tx(b, 100, &why), "mbarrier expect_tx", why);
  expect(ptx::mbarrier_arrive(b, 1, &done, &why) && !done, "mbarrier phase 0", "completed after 1 of 2 arrivals");
  expect(ptx::mbarrier_complete_tx(b, 60, &done, &why) && !done, "mbarrier phase 0", "completed with 40 bytes due");
  expect(ptx::mbarrier_arrive(b, 1, &done, &why) && !done, "mbarrier phase 0", "completed with arrivals in, 40 bytes due");
  expect(ptx::mbarrier_test_parity(b, 1) && !ptx::mbarrier_test_parity(b, 0), "mbarrier phase 0", "parity moved early");
  expect(ptx::mbarrier_complete_tx(b, 40, &done, &why) && done, "mbarrier phase 0", "the last bytes did not complete it");
  expect(b.phase == 1 && b.pending == 2 && b.tx == 0, "mbarrier phase 0", "state after completion");
  expect(ptx::mbarrier_test_parity(b, 0) && !ptx::mbarrier_test_parity(b, 1), "mbarrier parity after phase 0",
         "parity 0 should pass, parity 1 wait");

  // Phase 1: the bytes land before they are expected (tx negative).
  expect(ptx::mbarrier_complete_tx(b, 50, &done, &why) && !done && b.tx == -50, "mbarrier phase 1", "early bytes");
  expect(ptx::mbarrier_arrive(b, 2, &done, &why) && !done, "mbarrier phase 1", "completed with tx at -50");
  expect(ptx::mbarrier_expect_tx(b, 50, &why) && b.phase == 2 && b.pending == 2, "mbarrier phase 1",
         "expect_tx bringing tx to 0 after all arrivals did not complete the phase");
  expect(ptx::mbarrier_test_parity(b, 1) && !ptx::mbarrier_test_parity(b, 0), "mbarrier parity after phase 1", "");

  // Phase 2: arrivals only; arrive.expect_tx as expect_tx then arrive.
  expect(ptx::mbarrier_arrive(b, 1, &done, &why) && !done, "mbarrier phase 2", "first arrival completed");
  expect(ptx::mbarrier_expect_tx(b, 16, &why) && ptx::mbarrier_arrive(b, 1, &done, &why) && !done, "mbarrier phase 2",
         "arrive.expect_tx completed before its bytes");
  expect(ptx::mbarrier_complete_tx(b, 16, &done, &why) && done && b.phase == 3, "mbarrier phase 2", "");

  // Out of range and over-arrival.
  expect(!ptx::mbarrier_arrive(b, 3, &done, &why) && !done && b.pending == 2, "mbarrier over-arrival", "accepted");
  expect(!ptx::mbarrier_arrive(b, 0, &done, &why), "mbarrier arrive 0", "accepted");
  expect(!ptx::mbarrier_expect_tx(b, 1u << 20, &why), "mbarrier expect_tx 2^20", "accepted");
  expect(ptx::mbarrier_expect_tx(b, (1u << 20) - 1, &why), "mbarrier expect_tx 2^20-1", why);
  expect(!ptx::mbarrier_expect_tx(b, 1, &why) && b.tx == (1 << 20) - 1, "mbarrier tx above 2^20-1", "accepted");
  expect(ptx::mbarrier_complete_tx(b, (1u << 20) - 1, &done, &why) && !done && b.tx == 0, "mbarrier complete_tx", why);
  expect(ptx::mbarrier_complete_tx(b, (1u << 20) - 1, &done, &why) && b.tx == -((1 << 20) - 1), "mbarrier tx -(2^20-1)", why);
  expect(!ptx::mbarrier_complete_tx(b, 1, &done, &why), "mbarrier tx below -(2^20-1)", "accepted");
  for (uint32_t count : {0u, 1u << 20}) {
    ptx::Mbarrier fresh;
    expect(!ptx::mbarrier_init(fresh, count, &why) && !fresh.initialised, "mbarrier init count",
           format("count %u accepted", count));
  }
  ptx::Mbarrier big;
  expect(ptx::mbarrier_init(big, (1u << 20) - 1, &why), "mbarrier init count 2^20-1", why);
}

}  // namespace

int main(int argc, char** argv) {
  const CheckOptions options = check_options(argc, argv, 0x9e3779b9u);
  g_seed = options.seed;
  std::mt19937_64 rng(g_seed);
  const int trials = options.quick ? 20 : 200;

  check_formats();
  check_mma_k16(Format::BF16, rng, trials);
  check_mma_k16(Format::F16, rng, trials);
  for (Format fa : {Format::E4M3, Format::E5M2})
    for (Format fb : {Format::E4M3, Format::E5M2}) check_mma_k32(fa, fb, rng, trials);
  check_ldmatrix(rng, trials / 4 + 1);
  check_swizzle();
  check_descriptors(rng, trials * 10);
  check_wgmma(rng);
  check_wgmma_bf16(rng);
  check_accumulator_coord();
  check_tensor_map_encode();
  check_tma(rng);
  check_mbarrier();

  if (g_failures) {
    std::fprintf(stderr, "ptx_check: %d of %ld checks failed (seed %llu: rerun with --seed %llu)\n", g_failures, g_checks,
                 static_cast<unsigned long long>(g_seed), static_cast<unsigned long long>(g_seed));
    return 1;
  }
  std::printf("emulation ptx: ok (%ld checks, seed %llu)\n", g_checks, static_cast<unsigned long long>(g_seed));
  return 0;
}
