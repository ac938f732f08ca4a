// mla.absorbQuery and mla.projectOutput on CUDA. See native/ops/mla/absorb.h
// for the math and why the grouped GEMM does not take it; the CPU twin is
// native/cpu/mla/absorb.cc, the tests tests/mla/absorb.test.ts, the bench
// bench/mla/prefill.bench.ts.
//   v1: per head, a GEMM out[:, h, :] = x[:, h, :] . B_h with mma.sync
//       m16n8k16 (bf16, f32 accumulators): a block per (64 tokens, 64
//       output columns, head), 4 warps of 16 tokens x 64 columns, K in steps
//       of 32 through padded shared memory. A and projectOutput's B (W_UV_h,
//       [128, 512] = [N, K]) arrive by cp.async; absorbQuery's B (W_UK_h,
//       stored [K = 128, N = 512]) is read in 16-byte rows along N and
//       transposed as it is stored. Not pipelined: correctness first. sm >= 80.
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/launch.cuh"
#include "../common/mma.cuh"
#include "../common/shared_memory.cuh"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"
#include "../../native/ops/mla/absorb.h"
#include "absorb_config_v1.h"
#include "smem_fragments.cuh"

namespace moekit {

namespace {

using namespace mla_absorb_v1_config;

__global__ void __launch_bounds__(NUM_THREADS) absorb_v1_kernel(const AbsorbParams p) {
  const int K = p.project ? MLA_LATENT : MLA_NOPE;
  const int N = p.project ? MLA_V : MLA_LATENT;
  const int64_t t0 = static_cast<int64_t>(blockIdx.x) * BLOCK_M;
  const int n0 = static_cast<int>(blockIdx.y) * BLOCK_N;
  const int64_t h = blockIdx.z;
  const int warp = threadIdx.x / WARP_SIZE;
  const int lane = threadIdx.x % WARP_SIZE;
  uint16_t* sA = reinterpret_cast<uint16_t*>(dynamic_shared_memory());
  uint16_t* sB = sA + BLOCK_M * A_STRIDE;
  // W_UK_h (absorbQuery) or W_UV_h (projectOutput): 128 rows of 512.
  const uint16_t* w = p.wkv_b + (h * MLA_WKV_B_ROWS + (p.project ? MLA_NOPE : 0)) * MLA_LATENT;

  float acc[N_FRAGS][4] = {};
  for (int k0 = 0; k0 < K; k0 += BLOCK_K) {
    constexpr int CHUNKS = BLOCK_K / CHUNK_ELEMS;
    for (int c = threadIdx.x; c < BLOCK_M * CHUNKS; c += NUM_THREADS) {
      const int r = c / CHUNKS;
      const int ch = c % CHUNKS;
      const int64_t t = t0 + r;
      const bool valid = t < p.tokens;
      const uint16_t* src = valid ? p.x + (t * p.heads + h) * K + k0 + ch * CHUNK_ELEMS : p.x;
      cp_async_16(smem_address(sA + r * A_STRIDE + ch * CHUNK_ELEMS), src, valid);
    }
    if (p.project) {
      // B(n, k) = W_UV_h[n0 + n, k0 + k]: rows of K, as stored.
      for (int c = threadIdx.x; c < BLOCK_N * CHUNKS; c += NUM_THREADS) {
        const int n = c / CHUNKS;
        const int ch = c % CHUNKS;
        cp_async_16(smem_address(sB + n * B_STRIDE + ch * CHUNK_ELEMS), w + (n0 + n) * MLA_LATENT + k0 + ch * CHUNK_ELEMS, true);
      }
    } else {
      // B(n, k) = W_UK_h[k0 + k, n0 + n]: stored along N, transposed here.
      constexpr int N_CHUNKS = BLOCK_N / CHUNK_ELEMS;
      for (int c = threadIdx.x; c < BLOCK_K * N_CHUNKS; c += NUM_THREADS) {
        const int kk = c / N_CHUNKS;
        const int ch = c % N_CHUNKS;
        const uint4 v = *reinterpret_cast<const uint4*>(w + (k0 + kk) * MLA_LATENT + n0 + ch * CHUNK_ELEMS);
        const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int e = 0; e < CHUNK_ELEMS; ++e) {
          sB[(ch * CHUNK_ELEMS + e) * B_STRIDE + kk] = static_cast<uint16_t>(words[e / 2] >> (16 * (e % 2)));
        }
      }
    }
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();
#pragma unroll
    for (int ks = 0; ks < BLOCK_K; ks += MMA_K16) {
      uint32_t a[4];
      load_a_fragment(a, sA, A_STRIDE, warp * MMA_M, ks, lane);
#pragma unroll
      for (int j = 0; j < N_FRAGS; ++j) {
        uint32_t b[2];
        load_b_fragment(b, sB, B_STRIDE, j * MMA_N, ks, lane);
        mma_m16n8k16<DType::BF16>(acc[j], a, b);
      }
    }
    __syncthreads();  // the next step overwrites sA and sB
  }
#pragma unroll
  for (int j = 0; j < N_FRAGS; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const RowCol rc = mma_c_coord(lane, e);
      const int64_t t = t0 + warp * MMA_M + rc.row;
      if (t < p.tokens) p.out[(t * p.heads + h) * N + n0 + j * MMA_N + rc.col] = bf16_from_float(acc[j][e]);
    }
  }
}

}  // namespace

const char* absorb_v1_unsupported(const AbsorbParams& p) {
  if (p.heads > 65535) return "heads must be at most 65535 (a grid dimension)";
  if (ceil_div<int64_t>(p.tokens, BLOCK_M) > 2147483647) return "tokens must give at most 2^31 - 1 tiles of 64";
  return nullptr;
}

void absorb_v1(const AbsorbParams& p, cudaStream_t stream) {
  if (p.tokens == 0 || p.heads == 0) return;
  const dim3 grid(static_cast<unsigned>(ceil_div<int64_t>(p.tokens, BLOCK_M)), static_cast<unsigned>(absorb_n(p) / BLOCK_N),
                  static_cast<unsigned>(p.heads));
  launch_kernel("absorb_v1_kernel", absorb_v1_kernel, grid, NUM_THREADS, SMEM_BYTES, stream, p);
}

}  // namespace moekit
