// mla.decode on CUDA (absorbed MLA over the paged latent cache, DESIGN §4;
// the math and the handling of bad device data in native/ops/mla/decode.h).
// The CPU twin is native/cpu/mla/decode.cc, the tests
// tests/mla/decode.test.ts, the bench bench/mla/decode.bench.ts.
//   v1: SIMT flash-decoding, any sm >= 80. No tensor cores: correctness
//       first; the Hopper path (wgmma over 64-row q tiles, TMA page loads,
//       FlashMLA's design) is a later version.
//       Split kernel, grid (row groups, splits, batch): a block takes
//       MLA_DECODE_V1_ROWS query rows of one sequence (query token × head;
//       every head reads the same keys, so a key tile serves them all) and
//       the keys of one split (cuda/mla/paged_kv.h). Per tile of
//       MLA_DECODE_V1_BLOCK_N keys it decodes the rows into shared memory as
//       f32 (masked keys as 0: a slot past the length is never read, so NaN
//       there cannot reach a product), a warp per (row, key) pair computes
//       the score, one thread per row updates the online softmax (f32,
//       expf), and each thread scales and accumulates its output columns
//       for every row in registers. It writes the split's normalised
//       partial out and its lse (-inf when it saw no key) in f32.
//       The combine kernel (decode_combine.cu, shared with v2 and v3) merges the
//       splits' partials by their lse.
//   v2: mma.sync tensor cores, any sm >= 80: cuda/mla/decode_v2.cu.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "../common/launch.cuh"
#include "../common/reduce.cuh"
#include "../../native/common/float_convert.h"
#include "../../native/ops/mla/decode.h"
#include "decode_config_v1.h"
#include "paged_kv.h"

namespace moekit {

namespace {

constexpr int ROWS = MLA_DECODE_V1_ROWS;
constexpr int BLOCK_N = MLA_DECODE_V1_BLOCK_N;
constexpr int THREADS = MLA_DECODE_V1_THREADS;
constexpr int WARPS = MLA_DECODE_V1_WARPS;
constexpr int COLS = MLA_DECODE_V1_COLS_PER_THREAD;

__device__ __forceinline__ float bf16_value(uint16_t b) { return float_from_bits(static_cast<uint32_t>(b) << 16); }

__global__ void __launch_bounds__(THREADS) mla_decode_v1_kernel(const MlaDecodeParams p) {
  __shared__ uint16_t s_q[ROWS][MLA_HEAD];
  __shared__ float s_k[BLOCK_N][MLA_HEAD];
  __shared__ float s_s[ROWS][BLOCK_N];  // scores, then probabilities
  __shared__ float s_m[ROWS];           // running max
  __shared__ float s_l[ROWS];           // running sum of exp(s - m)
  __shared__ float s_alpha[ROWS];       // this tile's rescale of the old partial sums
  __shared__ int64_t s_limit[ROWS];     // keys [0, limit) visible to the row
  __shared__ int64_t s_row[BLOCK_N];    // cache row of each key of the tile, -1 masked

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32;
  const int warp = tid / 32;
  const int64_t b = blockIdx.z;
  const int split = static_cast<int>(blockIdx.y);
  const int64_t rows_total = static_cast<int64_t>(p.q_len) * p.heads;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * ROWS;
  const int64_t capacity = static_cast<int64_t>(p.max_pages) * p.page_size;
  const int64_t len = mla_clamped_length(p.seq_lens[b], capacity);
  const MlaKeyRange keys = mla_split_keys(len, p.splits, split, BLOCK_N);
  const int32_t* table = p.block_table + b * p.max_pages;

  for (int i = tid; i < ROWS * MLA_HEAD; i += THREADS) {
    const int r = i / MLA_HEAD;
    const int c = i % MLA_HEAD;
    const int64_t row = row0 + r;
    s_q[r][c] = row < rows_total ? p.q[(b * rows_total + row) * MLA_HEAD + c] : uint16_t{0};
  }
  if (tid < ROWS) {
    const int64_t row = row0 + tid;
    s_limit[tid] = row < rows_total ? mla_visible_keys(row, p.heads, p.q_len, len, p.causal) : 0;
    s_m[tid] = -INFINITY;
    s_l[tid] = 0.0f;
  }
  float acc[ROWS][COLS];
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
#pragma unroll
    for (int j = 0; j < COLS; ++j) acc[r][j] = 0.0f;
  }

  for (int64_t k0 = keys.begin; k0 < keys.end; k0 += BLOCK_N) {
    __syncthreads();  // the previous tile's keys and probabilities are used up
    if (tid < BLOCK_N) {
      const int64_t t = k0 + tid;
      s_row[tid] = t < keys.end ? mla_cache_row(table, p.max_pages, p.page_size, p.blocks, t) : -1;
    }
    __syncthreads();
    for (int i = tid; i < BLOCK_N * MLA_HEAD; i += THREADS) {
      const int n = i / MLA_HEAD;
      const int c = i % MLA_HEAD;
      const int64_t row = s_row[n];
      float v = 0.0f;
      if (row >= 0) {
        if (p.cache_dtype == DType::BF16) {
          v = bf16_value(static_cast<const uint16_t*>(p.cache)[row * MLA_HEAD + c]);
        } else {
          const uint8_t* src = static_cast<const uint8_t*>(p.cache) + row * MLA_FP8_ROW_BYTES;
          if (c < MLA_LATENT) {
            const float scale = reinterpret_cast<const float*>(src + MLA_FP8_SCALES_OFFSET)[c / FP8_SCALE_BLOCK];
            v = decode_narrow<Narrow::E4M3>(src[c]) * scale;
          } else {
            v = bf16_value(reinterpret_cast<const uint16_t*>(src + MLA_FP8_ROPE_OFFSET)[c - MLA_LATENT]);
          }
        }
      }
      s_k[n][c] = v;
    }
    __syncthreads();
    // Scores: a warp per (row, key) pair, lanes strided over the 576 columns.
    for (int pair = warp; pair < ROWS * BLOCK_N; pair += WARPS) {
      const int r = pair / BLOCK_N;
      const int n = pair % BLOCK_N;
      float dot = 0.0f;
      for (int c = lane; c < MLA_HEAD; c += 32) dot += bf16_value(s_q[r][c]) * s_k[n][c];
      dot = warp_sum(dot);
      if (lane == 0) s_s[r][n] = (s_row[n] >= 0 && k0 + n < s_limit[r]) ? dot * p.softmax_scale : -INFINITY;
    }
    __syncthreads();
    // Online softmax, a thread per row.
    if (tid < ROWS) {
      const int r = tid;
      float m = s_m[r];
#pragma unroll
      for (int n = 0; n < BLOCK_N; ++n) m = fmaxf(m, s_s[r][n]);
      // m_old = -inf gives alpha 0 (nothing to rescale); all -inf keeps alpha 1 and p 0.
      const float alpha = m == -INFINITY ? 1.0f : expf(s_m[r] - m);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < BLOCK_N; ++n) {
        const float e = s_s[r][n] == -INFINITY ? 0.0f : expf(s_s[r][n] - m);
        s_s[r][n] = e;
        sum += e;
      }
      s_l[r] = s_l[r] * alpha + sum;
      s_m[r] = m;
      s_alpha[r] = alpha;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      const float alpha = s_alpha[r];
#pragma unroll
      for (int j = 0; j < COLS; ++j) {
        const int c = tid + j * THREADS;
        float a = acc[r][j] * alpha;
#pragma unroll
        for (int n = 0; n < BLOCK_N; ++n) a += s_s[r][n] * s_k[n][c];
        acc[r][j] = a;
      }
    }
  }
  __syncthreads();
  const int64_t part = (b * p.splits + split) * rows_total;
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
    const int64_t row = row0 + r;
    if (row >= rows_total) break;
    const float l = s_l[r];
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int j = 0; j < COLS; ++j) p.out_accum[(part + row) * MLA_LATENT + tid + j * THREADS] = acc[r][j] * inv;
    if (tid == 0) p.lse_accum[part + row] = l > 0.0f ? s_m[r] + logf(l) : -INFINITY;
  }
}

}  // namespace

void mla_decode_v1(const MlaDecodeParams& p, cudaStream_t stream) {
  const int64_t rows_total = static_cast<int64_t>(p.q_len) * p.heads;
  if (p.batch == 0 || rows_total == 0) return;
  const dim3 grid(static_cast<unsigned>(ceil_div<int64_t>(rows_total, ROWS)), static_cast<unsigned>(p.splits), static_cast<unsigned>(p.batch));
  launch_kernel("mla_decode_v1_kernel", mla_decode_v1_kernel, grid, dim3(THREADS), 0, stream, p);
  mla_decode_combine(p, stream);
}

}  // namespace moekit
