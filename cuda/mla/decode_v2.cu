// mla.decode on CUDA, v2 (absorbed MLA over the paged latent cache, DESIGN
// §4; the math and the handling of bad device data in
// native/ops/mla/decode.h). The CPU twin is native/cpu/mla/decode.cc, the
// tests tests/mla/decode.test.ts and tests/native/mla_decode_check.cc, the
// bench bench/mla/decode.bench.ts. v1 (SIMT) is cuda/mla/decode_v1.cu.
//   v2: flash-decoding with mma.sync m16n8k16 (bf16 operands, f32
//       accumulators, online softmax in f32 with expf), any sm >= 80. The
//       split-KV schedule, page addressing and causal limits are v1's
//       (cuda/mla/paged_kv.h), and so is the combine kernel
//       (decode_combine.cu): only the split kernel differs.
//       Split kernel, grid (row groups, splits, batch): a block takes
//       BLOCK_M = 32 query rows of one sequence (query token x head, packed
//       as in q: every head reads the same keys) and the keys of one
//       split, 8 warps. Per tile of BLOCK_N = 32 keys:
//         1. the tile's rows are copied into padded shared memory, bf16
//            rows with cp.async (a key that is masked, past the split or on
//            a bad page, is zero-filled, never read); e4m3 rows are read
//            and their codes widened to bf16, which is exact, with the
//            row's 4 scales beside them;
//         2. S = Q K^T over the 576 channels: warp w computes one m16n8
//            score tile (decode_config_v2.h: s_tile_of), keeping a partial
//            sum per 128-channel latent block and one for the rope, so
//            S = Σ_blocks scale · S_block + S_rope (scale 1 for bf16
//            caches): the e4m3 scales multiply exact block sums, as in v1,
//            rather than being rounded into bf16 keys. Masked scores are
//            -inf (keys past the row's causal limit too), in f32 in sS;
//         3. the online softmax, a warp per 4 rows and a lane per key:
//            running max and sum in shared memory, probabilities in place
//            in sS, and each row's rescale factor alpha;
//         4. O = alpha · O + P V: warp w owns output columns
//            [64 w, 64 w + 64) of all 32 rows (2 x 8 m16n8 tiles, 64 f32
//            accumulators per thread). V is the first 512 channels of the
//            same shared key tile; its B fragments (two keys of one
//            column per register) are gathered with 16-bit shared loads,
//            as no transposed ldmatrix is wrapped. The A fragments are the
//            f32 probabilities times the key's scale of the warp's
//            128-column block (one block per warp), rounded to bf16.
//            Masked keys have P = 0 and zero rows, so NaN in a slot past
//            a sequence's end never meets a product.
//       It then writes the split's normalised partial out and lse (-inf
//       when it saw no key) in f32, like v1, and the combine merges them.
//       Shared memory 80,768 bytes (opt-in above 48 KiB); no pipelining
//       across tiles (a second key tile would not fit sm_89's 99 KiB next
//       to the query rows).
//   Not yet: the Hopper path (wgmma over 64-row tiles, TMA page loads,
//   FlashMLA's seesaw schedule); ldmatrix with swizzled tiles.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "../common/fp8_unpack.h"
#include "../common/launch.cuh"
#include "../common/mma.cuh"
#include "../common/reduce.cuh"
#include "../common/shared_memory.cuh"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"
#include "../../native/ops/mla/decode.h"
#include "decode_config_v2.h"
#include "paged_kv.h"
#include "smem_fragments.cuh"

namespace moekit {

namespace {

using namespace mla_decode_v2_config;

// A B fragment of V (the [key][column] tile: B's k is the key, n the
// column) for the n8 x k16 block at (column n0, key k0): each register
// holds keys k and k + 1 of one column, two 16-bit loads.
__device__ __forceinline__ void load_v_fragment(uint32_t (&b)[2], const uint16_t* tile, int n0, int k0, int lane) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const RowCol rc = mma_b_coord_k16(lane, 2 * r);
    const uint16_t* v = tile + (k0 + rc.col) * ROW_STRIDE + n0 + rc.row;
    b[r] = static_cast<uint32_t>(v[0]) | (static_cast<uint32_t>(v[ROW_STRIDE]) << 16);
  }
}

// The tile's key rows into sK (and their scales into sScale): bf16 rows by
// cp.async, e4m3 rows widened to bf16 codes here; masked keys zero-filled.
__device__ __forceinline__ void load_key_tile(const MlaDecodeParams& p, uint16_t* sK, float* sScale, const int64_t* sKeyRow) {
  const int tid = static_cast<int>(threadIdx.x);
  if (p.cache_dtype == DType::BF16) {
    const uint16_t* cache = static_cast<const uint16_t*>(p.cache);
    for (int c = tid; c < BLOCK_N * HEAD_CHUNKS; c += NUM_THREADS) {
      const int n = c / HEAD_CHUNKS;
      const int ch = c % HEAD_CHUNKS;
      const int64_t row = sKeyRow[n];
      cp_async_16(smem_address(sK + n * ROW_STRIDE + ch * CHUNK_ELEMS), cache + (row >= 0 ? row * MLA_HEAD + ch * CHUNK_ELEMS : 0), row >= 0);
    }
    for (int i = tid; i < BLOCK_N * LATENT_BLOCKS; i += NUM_THREADS) sScale[i] = 1.0f;
    return;
  }
  const uint8_t* cache = static_cast<const uint8_t*>(p.cache);
  for (int c = tid; c < BLOCK_N * FP8_ROW_CHUNKS; c += NUM_THREADS) {
    const int n = c / FP8_ROW_CHUNKS;
    const int ch = c % FP8_ROW_CHUNKS;
    const int64_t row = sKeyRow[n];
    const uint8_t* src = cache + (row >= 0 ? row * MLA_FP8_ROW_BYTES : 0);
    if (ch < CODE_CHUNKS) {
      // 16 codes -> 16 bf16 (exact): two 16-byte stores.
      uint4 codes = make_uint4(0, 0, 0, 0);
      if (row >= 0) codes = *reinterpret_cast<const uint4*>(src + ch * CHUNK_BYTES);
      const uint32_t words[4] = {codes.x, codes.y, codes.z, codes.w};
      uint32_t wide[8];
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        wide[2 * w] = fp8_pair_as_bf16x2<DType::E4M3>(words[w], 0);
        wide[2 * w + 1] = fp8_pair_as_bf16x2<DType::E4M3>(words[w], 1);
      }
      uint4* dst = reinterpret_cast<uint4*>(sK + n * ROW_STRIDE + ch * CHUNK_BYTES);
      dst[0] = make_uint4(wide[0], wide[1], wide[2], wide[3]);
      dst[1] = make_uint4(wide[4], wide[5], wide[6], wide[7]);
    } else if (ch < CODE_CHUNKS + ROPE_CHUNKS) {
      const int r = ch - CODE_CHUNKS;
      cp_async_16(smem_address(sK + n * ROW_STRIDE + MLA_LATENT + r * CHUNK_ELEMS), src + MLA_FP8_ROPE_OFFSET + r * CHUNK_BYTES, row >= 0);
    } else {
      cp_async_16(smem_address(sScale + n * LATENT_BLOCKS), src + MLA_FP8_SCALES_OFFSET, row >= 0);
    }
  }
}

__global__ void __launch_bounds__(NUM_THREADS) mla_decode_v2_kernel(const MlaDecodeParams p) {
  uint8_t* smem = dynamic_shared_memory();
  uint16_t* sQ = reinterpret_cast<uint16_t*>(smem + Q_OFFSET);
  uint16_t* sK = reinterpret_cast<uint16_t*>(smem + K_OFFSET);
  float* sS = reinterpret_cast<float*>(smem + S_OFFSET);
  float* sScale = reinterpret_cast<float*>(smem + SCALE_OFFSET);
  int64_t* sKeyRow = reinterpret_cast<int64_t*>(smem + KEY_ROW_OFFSET);
  int64_t* sLimit = reinterpret_cast<int64_t*>(smem + LIMIT_OFFSET);
  float* sMax = reinterpret_cast<float*>(smem + STATE_OFFSET);
  float* sSum = sMax + BLOCK_M;
  float* sAlpha = sSum + BLOCK_M;

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % WARP_SIZE;
  const int warp = tid / WARP_SIZE;
  const int64_t b = blockIdx.z;
  const int split = static_cast<int>(blockIdx.y);
  const int64_t rows_total = static_cast<int64_t>(p.q_len) * p.heads;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * BLOCK_M;
  const int64_t len = mla_clamped_length(p.seq_lens[b], static_cast<int64_t>(p.max_pages) * p.page_size);
  const MlaKeyRange keys = mla_split_keys(len, p.splits, split, BLOCK_N);
  const int32_t* table = p.block_table + b * p.max_pages;

  if (keys.begin < keys.end) {
    // The query rows (rows past the sequence's zero-filled); they land with the first tile's wait.
    for (int c = tid; c < BLOCK_M * HEAD_CHUNKS; c += NUM_THREADS) {
      const int r = c / HEAD_CHUNKS;
      const int ch = c % HEAD_CHUNKS;
      const bool inside = row0 + r < rows_total;
      cp_async_16(smem_address(sQ + r * ROW_STRIDE + ch * CHUNK_ELEMS), p.q + ((b * rows_total + (inside ? row0 + r : 0)) * MLA_HEAD + ch * CHUNK_ELEMS),
                  inside);
    }
  }
  if (tid < BLOCK_M) {
    const int64_t row = row0 + tid;
    sLimit[tid] = row < rows_total ? mla_visible_keys(row, p.heads, p.q_len, len, p.causal) : 0;
    sMax[tid] = -INFINITY;
    sSum[tid] = 0.0f;
  }

  const RowCol s_tile = s_tile_of(warp);
  const int o_col0 = o_col0_of(warp);
  const int o_block = o_scale_block_of(warp);
  float o[M_FRAGS][O_N_FRAGS][4] = {};

  for (int64_t k0 = keys.begin; k0 < keys.end; k0 += BLOCK_N) {
    // sKeyRow was last read before the previous tile's softmax barrier.
    if (tid < BLOCK_N) sKeyRow[tid] = k0 + tid < keys.end ? mla_cache_row(table, p.max_pages, p.page_size, p.blocks, k0 + tid) : -1;
    __syncthreads();  // the key rows are in; every warp is done with the previous tile's sK, sS and sScale
    load_key_tile(p, sK, sScale, sKeyRow);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    // 2. S = Q K^T, this warp's m16n8 tile, a partial sum per latent block and the rope.
    {
      float sp[S_PARTS][4] = {};
#pragma unroll
      for (int j = 0; j < S_PARTS; ++j) {
        const int c0 = j * LATENT_BLOCK;
        const int width = j < LATENT_BLOCKS ? LATENT_BLOCK : MLA_ROPE;
#pragma unroll
        for (int ks = 0; ks < width; ks += MMA_K16) {
          uint32_t a[4];
          uint32_t bf[2];
          load_a_fragment(a, sQ, ROW_STRIDE, s_tile.row, c0 + ks, lane);
          load_b_fragment(bf, sK, ROW_STRIDE, s_tile.col, c0 + ks, lane);
          mma_m16n8k16<DType::BF16>(sp[j], a, bf);
        }
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const RowCol rc = mma_c_coord(lane, e);
        const int r = s_tile.row + rc.row;
        const int n = s_tile.col + rc.col;
        float s = sp[LATENT_BLOCKS][e];
#pragma unroll
        for (int j = 0; j < LATENT_BLOCKS; ++j) s += sScale[n * LATENT_BLOCKS + j] * sp[j][e];
        const bool visible = sKeyRow[n] >= 0 && k0 + n < sLimit[r];
        sS[r * S_STRIDE + n] = visible ? s * p.softmax_scale : -INFINITY;
      }
    }
    __syncthreads();

    // 3. Online softmax: a warp per SOFTMAX_ROWS rows, lane = key.
#pragma unroll
    for (int i = 0; i < SOFTMAX_ROWS; ++i) {
      const int r = softmax_row0_of(warp) + i;
      const float s = sS[r * S_STRIDE + lane];
      const float old_max = sMax[r];
      const float new_max = fmaxf(old_max, warp_max(s));
      const float base = new_max == -INFINITY ? 0.0f : new_max;  // a row with nothing visible yet stays at zero
      const float e = expf(s - base);                             // 0 for a masked key
      const float sum = warp_sum(e);
      sS[r * S_STRIDE + lane] = e;
      __syncwarp();  // every lane has read the row's state before lane 0 updates it
      if (lane == 0) {
        const float alpha = expf(old_max - base);
        sAlpha[r] = alpha;
        sSum[r] = sSum[r] * alpha + sum;
        sMax[r] = new_max;
      }
    }
    __syncthreads();

    // 4. O = alpha O + P V over this warp's 64 columns.
#pragma unroll
    for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float alpha = sAlpha[i * MMA_M + mma_c_coord(lane, 2 * h).row];
#pragma unroll
        for (int j = 0; j < O_N_FRAGS; ++j) {
          o[i][j][2 * h] *= alpha;
          o[i][j][2 * h + 1] *= alpha;
        }
      }
    }
#pragma unroll
    for (int kk = 0; kk < BLOCK_N; kk += MMA_K16) {
      uint32_t a[M_FRAGS][4];
#pragma unroll
      for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const RowCol rc = mma_a_coord_k16(lane, 2 * r);
          const int n = kk + rc.col;
          const float* prob = sS + (i * MMA_M + rc.row) * S_STRIDE + n;
          a[i][r] = pack_bf16_pair(prob[0] * sScale[n * LATENT_BLOCKS + o_block], prob[1] * sScale[(n + 1) * LATENT_BLOCKS + o_block]);
        }
      }
#pragma unroll
      for (int j = 0; j < O_N_FRAGS; ++j) {
        uint32_t bv[2];
        load_v_fragment(bv, sK, o_col0 + j * MMA_N, kk, lane);
#pragma unroll
        for (int i = 0; i < M_FRAGS; ++i) mma_m16n8k16<DType::BF16>(o[i][j], a[i], bv);
      }
    }
  }
  __syncthreads();  // the row state is final (and initialised, for an empty split)

  // The split's partial: out = O / l (0 for a row that saw no key), lse = m + ln l (-inf).
  const int64_t part = (b * p.splits + split) * rows_total + row0;
#pragma unroll
  for (int i = 0; i < M_FRAGS; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = i * MMA_M + mma_c_coord(lane, 2 * h).row;
      if (row0 + r >= rows_total) continue;
      const float l = sSum[r];
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
      float* out = p.out_accum + (part + r) * MLA_LATENT + o_col0;
#pragma unroll
      for (int j = 0; j < O_N_FRAGS; ++j) {
        const int c = j * MMA_N + mma_c_coord(lane, 2 * h).col;
        *reinterpret_cast<float2*>(out + c) = make_float2(o[i][j][2 * h] * inv, o[i][j][2 * h + 1] * inv);
      }
    }
  }
  if (tid < BLOCK_M && row0 + tid < rows_total) {
    const float l = sSum[tid];
    p.lse_accum[part + tid] = l > 0.0f ? sMax[tid] + logf(l) : -INFINITY;
  }
}

}  // namespace

void mla_decode_v2(const MlaDecodeParams& p, cudaStream_t stream) {
  const int64_t rows_total = static_cast<int64_t>(p.q_len) * p.heads;
  if (p.batch == 0 || rows_total == 0) return;
  const dim3 grid(static_cast<unsigned>(ceil_div<int64_t>(rows_total, BLOCK_M)), static_cast<unsigned>(p.splits), static_cast<unsigned>(p.batch));
  launch_kernel("mla_decode_v2_kernel", mla_decode_v2_kernel, grid, dim3(NUM_THREADS), SMEM_BYTES, stream, p);
  mla_decode_combine(p, stream);
}

}  // namespace moekit
