// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32 and
// mma.sync.aligned.m16n8k32.row.col.f32.{e4m3,e5m2}.{e4m3,e5m2}.f32
// (PTX ISA 9.7.14.5.14; fragment layouts 9.7.14.5.8 for k16 and 9.7.14.5.10
// for k32). With g = lane >> 2 and t = lane % 4, the lower-indexed element
// of a register sits in its low bits:
//   k16 A  a0..a3: A[g][2t..+1], A[g+8][2t..+1], A[g][2t+8..+9], A[g+8][2t+8..+9]
//   k16 B  b0,b1:  B[2t..+1][g], B[2t+8..+9][g]
//   k32 A  a0..a3: A[g][4t..+3], A[g+8][4t..+3], A[g][4t+16..+19], A[g+8][4t+16..+19]
//   k32 B  b0,b1:  B[4t..+3][g], B[4t+16..+19][g]
//   C/D    c0..c3: D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1]
// The ISA leaves the accumulation order and intermediate rounding open; the
// emulation fixes one (f32, increasing k, starting from c) so that runs are
// reproducible, and the checks compare against hardware with a tolerance.
#include <limits>

#include "ptx.h"

namespace moekit {
namespace emu {
namespace ptx {

namespace {

constexpr int M = 16;
constexpr int N = 8;

bool is_16_bit(Format f) { return f == Format::BF16 || f == Format::F16; }

// The element `index` (0 = lowest bits) of a register holding 32/bits
// elements of `bits` bits each.
uint32_t field(uint32_t reg, int index, int bits) {
  return (reg >> (index * bits)) & ((1u << bits) - 1u);
}

// Unpacks the fragments of one shape into dense A (M x K, row-major) and
// B (K x N, row-major). `per_reg` elements per register; A's registers 2 and
// 3 and B's register 1 step K by `k_half` (8 for k16, 16 for k32).
template <int K>
void gather(Format fa, Format fb, int per_reg, const uint32_t (&a)[32][4], const uint32_t (&b)[32][2],
            float (&A)[M][K], float (&B)[K][N]) {
  const int bits = 32 / per_reg;
  const int k_half = K / 2;
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2;
    const int t = lane % 4;
    for (int r = 0; r < 4; ++r) {
      const int row = g + 8 * (r & 1);
      const int k0 = per_reg * t + k_half * (r >> 1);
      for (int e = 0; e < per_reg; ++e) A[row][k0 + e] = decode(fa, field(a[lane][r], e, bits));
    }
    for (int r = 0; r < 2; ++r) {
      const int k0 = per_reg * t + k_half * r;
      for (int e = 0; e < per_reg; ++e) B[k0 + e][g] = decode(fb, field(b[lane][r], e, bits));
    }
  }
}

template <int K>
void multiply(const float (&A)[M][K], const float (&B)[K][N], const float (&c)[32][4], float (&d)[32][4]) {
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane >> 2;
    const int t = lane % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = g + 8 * (i >> 1);
      const int col = 2 * t + (i & 1);
      float sum = c[lane][i];
      for (int k = 0; k < K; ++k) sum += A[row][k] * B[k][col];
      d[lane][i] = sum;
    }
  }
}

// A format the shape does not take has no meaning; NaN everywhere makes the
// misuse visible in whatever consumes d.
void poison(float (&d)[32][4]) {
  for (auto& lane : d)
    for (float& x : lane) x = std::numeric_limits<float>::quiet_NaN();
}

}  // namespace

void mma_m16n8k16(Format ab, const uint32_t (&a)[32][4], const uint32_t (&b)[32][2], const float (&c)[32][4],
                  float (&d)[32][4]) {
  if (!is_16_bit(ab)) return poison(d);
  float A[M][16];
  float B[16][N];
  gather<16>(ab, ab, 2, a, b, A, B);
  multiply<16>(A, B, c, d);
}

void mma_m16n8k32(Format fa, Format fb, const uint32_t (&a)[32][4], const uint32_t (&b)[32][2],
                  const float (&c)[32][4], float (&d)[32][4]) {
  if (is_16_bit(fa) || is_16_bit(fb)) return poison(d);
  float A[M][32];
  float B[32][N];
  gather<32>(fa, fb, 4, a, b, A, B);
  multiply<32>(A, B, c, d);
}

}  // namespace ptx
}  // namespace emu
}  // namespace moekit
