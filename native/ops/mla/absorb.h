// mla.absorbQuery and mla.projectOutput: the per-head products with the two
// halves of DeepSeek's wkv_b ([H * 256, 512]; per head h, rows
// h*256 .. h*256+127 are W_UK_h [128, 512], rows h*256+128 .. h*256+255 are
// W_UV_h [128, 512]) that move a query into the latent space and an
// attention output back out of it ("absorbed" MLA, DeepSeek-V3 model.py):
//
//   absorbQuery:   out[t, h, c] = sum_d  x[t, h, d] * wkv_b[h*256 + d, c]         x = q_nope [T, H, 128], out [T, H, 512]
//   projectOutput: out[t, h, d] = sum_c  x[t, h, c] * wkv_b[h*256 + 128 + d, c]   x = o      [T, H, 512], out [T, H, 128]
//
// bf16 operands and output, f32 accumulation (the CPU twin: double), one
// rounding to bf16 at the end.
//
// Why not the grouped GEMM (moe.groupedGemmMasked): per head this is a GEMM
// with A = x[:, h, :] (rows strided by H * K, where the masked layout wants
// [H, T, K] contiguous) and B = a 128-row slice of wkv_b at a stride of 256
// rows per head (the layout wants [H * N, K] packed). projectOutput's B is
// "NT" ([N = 128, K = 512] row-major) but absorbQuery's is not: W_UK_h is
// stored [K = 128, N = 512], so its B needs a transpose. Expressing either
// through the grouped GEMM would take copies of x and of wkv_b (or strides
// in GemmParams, used by no other caller), so a small dedicated kernel does
// both.
//
//   v1: mma.sync m16n8k16, a 64 x 64 output tile per block (4 warps of
//       16 x 64), K in steps of 32 through shared memory; absorbQuery's
//       W_UK tile is transposed while it is stored to shared memory. sm >= 80.
//
//   kernels:  cuda/mla/absorb_v1.cu
//   CPU twin: native/cpu/mla/absorb.cc
//   tests:    tests/mla/absorb.test.ts
//   bench:    bench/mla/prefill.bench.ts (the absorbed path beside the prefill)
#pragma once

#include <cstdint>

#include "../../common/stream.h"
#include "latent_dims.h"

namespace moekit {

struct AbsorbParams {
  bool project;            // false: absorbQuery, true: projectOutput
  const uint16_t* x;       // bf16: absorbQuery q_nope [tokens, heads, 128]; projectOutput o [tokens, heads, 512]
  const uint16_t* wkv_b;   // bf16 [heads * 256, 512]
  uint16_t* out;           // bf16: absorbQuery [tokens, heads, 512]; projectOutput [tokens, heads, 128]
  int64_t tokens;
  int64_t heads;
};

// K (the summed dimension) and N (the output's last dimension) of the call.
inline int absorb_k(const AbsorbParams& p) { return p.project ? MLA_LATENT : MLA_NOPE; }
inline int absorb_n(const AbsorbParams& p) { return p.project ? MLA_V : MLA_LATENT; }

void absorb_cpu(const AbsorbParams& p);
void absorb_v1(const AbsorbParams& p, cudaStream_t stream);
const char* absorb_v1_unsupported(const AbsorbParams& p);

}  // namespace moekit
