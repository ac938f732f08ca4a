// mla.append on CUDA: new token rows into the paged latent cache, in place
// (native/ops/mla/append.h). The CPU twin is native/cpu/mla/append.cc, the
// tests tests/mla/cache.test.ts.
//   v1: a warp per token row (sequence, token), grid-stride. A bf16 cache
//       copies the row; an e4m3 cache quantizes the latent's four 1x128
//       blocks with quantize_row128_block (cuda/common/row128_quantize.cuh,
//       the bits of quantize's CPU twin) and copies k_rope as bf16. A token
//       whose slot lies past the block table or on a page id outside the
//       cache is skipped (cuda/mla/paged_kv.h): never a write outside it.
//       Any sm >= 80.
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/launch.cuh"
#include "../common/row128_quantize.cuh"
#include "../../native/common/float_convert.h"
#include "../../native/ops/mla/append.h"
#include "paged_kv.h"

namespace moekit {

namespace {

constexpr int APPEND_THREADS = 256;
constexpr int APPEND_WARPS = APPEND_THREADS / WARP_SIZE;
constexpr int64_t APPEND_MAX_BLOCKS = 4096;

__global__ void __launch_bounds__(APPEND_THREADS) mla_append_v1_kernel(const MlaAppendParams p) {
  const int lane = static_cast<int>(threadIdx.x) % WARP_SIZE;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * APPEND_WARPS;
  const int64_t rows = p.batch * p.tokens;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * APPEND_WARPS + threadIdx.x / WARP_SIZE; i < rows; i += warps) {
    const int64_t b = i / p.tokens;
    const int64_t s = i % p.tokens;
    if (s >= p.lengths[b]) continue;
    const int64_t row = mla_cache_row(p.block_table + b * p.max_pages, p.max_pages, p.page_size, p.blocks, int64_t{p.positions[b]} + s);
    if (row < 0) continue;  // warp-uniform: every lane has the same row
    const uint16_t* latent = p.latent + i * MLA_LATENT;
    const uint16_t* rope = p.k_rope + i * MLA_ROPE;
    if (p.cache_dtype == DType::BF16) {
      uint16_t* dst = static_cast<uint16_t*>(p.cache) + row * MLA_HEAD;
      for (int c = lane; c < MLA_LATENT; c += WARP_SIZE) dst[c] = latent[c];
      for (int c = lane; c < MLA_ROPE; c += WARP_SIZE) dst[MLA_LATENT + c] = rope[c];
      continue;
    }
    uint8_t* dst = static_cast<uint8_t*>(p.cache) + row * MLA_FP8_ROW_BYTES;
    float* scales = reinterpret_cast<float*>(dst + MLA_FP8_SCALES_OFFSET);
    for (int blk = 0; blk < MLA_FP8_SCALES; ++blk) {
      const int64_t c0 = blk * FP8_SCALE_BLOCK;
      float v[ROW128_ELEMS_PER_LANE];
#pragma unroll
      for (int j = 0; j < ROW128_ELEMS_PER_LANE; ++j) v[j] = decode_narrow<Narrow::BF16>(latent[c0 + j * WARP_SIZE + lane]);
      quantize_row128_block(v, c0, MLA_LATENT, dst, scales + blk, DType::E4M3, false, lane);
    }
    uint16_t* rope_dst = reinterpret_cast<uint16_t*>(dst + MLA_FP8_ROPE_OFFSET);
    for (int c = lane; c < MLA_ROPE; c += WARP_SIZE) rope_dst[c] = rope[c];
  }
}

}  // namespace

void mla_append_v1(const MlaAppendParams& p, cudaStream_t stream) {
  const int64_t rows = p.batch * p.tokens;
  if (rows == 0) return;
  int64_t blocks = ceil_div<int64_t>(rows, APPEND_WARPS);
  if (blocks > APPEND_MAX_BLOCKS) blocks = APPEND_MAX_BLOCKS;
  launch_kernel("mla_append_v1_kernel", mla_append_v1_kernel, dim3(static_cast<unsigned>(blocks)), dim3(APPEND_THREADS), 0, stream, p);
}

}  // namespace moekit
