// The combine step of mla.decode's CUDA versions (v1: decode_v1.cu, v2:
// decode_v2.cu): both split kernels write, per query row and split, a
// normalised partial output and its lse into MlaDecodeParams' out_accum and
// lse_accum (the split-KV schedule of paged_kv.h), and this kernel merges
// them. A block per output row: lse = ln Σ exp(lse_s),
// out = Σ exp(lse_s − lse) · out_s, rounded to bf16; a row with no key in
// any split gets out 0 and lse +inf.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "../common/launch.cuh"
#include "../../native/common/float_convert.h"
#include "../../native/ops/mla/decode.h"

namespace moekit {

namespace {

constexpr int COMBINE_THREADS = 128;  // threads per output row
constexpr int COLS_PER_THREAD = MLA_LATENT / COMBINE_THREADS;
static_assert(MLA_LATENT % COMBINE_THREADS == 0, "each combine thread owns whole output columns");

__global__ void __launch_bounds__(COMBINE_THREADS) mla_decode_combine_kernel(const MlaDecodeParams p) {
  const int64_t rows_total = static_cast<int64_t>(p.q_len) * p.heads;
  const int64_t b = blockIdx.x / rows_total;
  const int64_t row = blockIdx.x % rows_total;
  const int tid = static_cast<int>(threadIdx.x);
  float m = -INFINITY;
  for (int s = 0; s < p.splits; ++s) m = fmaxf(m, p.lse_accum[(b * p.splits + s) * rows_total + row]);
  const int64_t i = row / p.heads;
  const int64_t h = row % p.heads;
  uint16_t* out = p.out + (b * rows_total + row) * MLA_LATENT;
  if (m == -INFINITY) {
    for (int j = 0; j < COLS_PER_THREAD; ++j) out[tid + j * COMBINE_THREADS] = 0;
    if (tid == 0) p.lse[(b * p.heads + h) * p.q_len + i] = INFINITY;
    return;
  }
  float total = 0.0f;
  float o[COLS_PER_THREAD] = {};
  for (int s = 0; s < p.splits; ++s) {
    const int64_t part = (b * p.splits + s) * rows_total + row;
    const float lse_s = p.lse_accum[part];
    if (lse_s == -INFINITY) continue;  // an empty split: its partial is 0 and weighs nothing
    const float w = expf(lse_s - m);
    total += w;
#pragma unroll
    for (int j = 0; j < COLS_PER_THREAD; ++j) o[j] += w * p.out_accum[part * MLA_LATENT + tid + j * COMBINE_THREADS];
  }
  const float inv = 1.0f / total;
#pragma unroll
  for (int j = 0; j < COLS_PER_THREAD; ++j) out[tid + j * COMBINE_THREADS] = bf16_from_float(o[j] * inv);
  if (tid == 0) p.lse[(b * p.heads + h) * p.q_len + i] = m + logf(total);
}

}  // namespace

void mla_decode_combine(const MlaDecodeParams& p, cudaStream_t stream) {
  const int64_t rows_total = static_cast<int64_t>(p.q_len) * p.heads;
  if (p.batch == 0 || rows_total == 0) return;
  launch_kernel("mla_decode_combine_kernel", mla_decode_combine_kernel, dim3(static_cast<unsigned>(p.batch * rows_total)),
                dim3(COMBINE_THREADS), 0, stream, p);
}

}  // namespace moekit
