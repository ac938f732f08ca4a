// mla.prefill on CUDA. See native/ops/mla/prefill.h for the math; the CPU
// twin is native/cpu/mla/prefill.cc, the tests tests/mla/prefill.test.ts and
// tests/native/mla_prefill_tiles_check.cc, the bench bench/mla/prefill.bench.ts.
//   v1: flash-attention forward with mma.sync m16n8k16 (bf16 operands, f32
//       accumulators, online softmax in f32 with expf), the keys and values
//       decompressed from the latent inside the kernel. A block per (query
//       tile of 64 tokens of one sequence, head): 4 warps, each 16 queries.
//       For every tile of 32 keys the block computes
//         [k_nope | v] [32, 256] = latent [32, 512] . [W_UK_h; W_UV_h]^T
//       through mma.sync in 64-column latent chunks (warps 0-1: k_nope,
//       warps 2-3: v), rounds it to bf16 into shared memory (v transposed,
//       as the B operand of P . V wants it), adds the 64 k_rope columns, and
//       then every warp runs S = Q K^T, the online softmax and O += P V on
//       it. K and V never reach device memory. Tiles are padded, not
//       swizzled; copies are cp.async without a pipeline. sm >= 80.
//       Tile sizes: prefill_config_v1.h; which tiles a block visits (the
//       scheduler over cu_seq_lens, causal limits): prefill_tiles.h.
//   A Hopper version (wgmma + TMA, larger query blocks, several heads per
//   block sharing one latent tile) is future work; see the cost model.
//
// Cost model (per head; S keys per sequence, P = unmasked (q, k) pairs,
// BLOCK_M = 64 queries, BLOCK_N = 32 keys; DESIGN §6 counts only the
// attention):
//   attention FLOPs    2 * (192 + 128) * P            (Q K^T and P V; v1 also
//                      computes the masked parts of the diagonal tiles)
//   decompression      2 * BLOCK_N * 512 * 256 = 8.4 MFLOP per visited
//                      (query tile, key tile) pair, i.e. 262,144 FLOP per key
//                      per query tile that visits it.
//   recompute factor   how often a key's K/V tile is decompressed = the query
//                      tiles that visit it: ceil(S / BLOCK_M) without a mask;
//                      causal, the key at position k is decompressed by the
//                      ceil((S - k) / BLOCK_M) tiles at or after it, on
//                      average (S / BLOCK_M + 1) / 2 (32.5 at S = 4096).
//   FLOPs per token    attention 320 * S (causal, average) versus
//                      decompression 262,144 * (S / 64 + 1) / 2 / S per key
//                      ~ 2,048 * S: at BLOCK_M = 64 decompression costs about
//                      6.4x the attention, for any S (the ratio is
//                      262,144 / (640 * BLOCK_M)). The unfused path
//                      decompresses each key once (262,144 FLOP per token per
//                      head, 0.4% of the attention at S = 4096) but writes
//                      and rereads K and V: 2 * 320 bytes per token per head
//                      (335 MB at S = 4096, H = 128).
//   bytes per token    q 384 B + out 256 B + lse 4 B per head, once; per
//                      visited tile pair the block reads 32 latent rows
//                      (32 KB + 4 KB k_rope) and the head's wkv_b block
//                      (256 KB, from L2: wkv_b is 32 MB at H = 128), i.e.
//                      9 KB per key per query tile, about 36 MB of L2 reads
//                      per query tile at S = 4096.
//   So v1 trades memory (no materialized K/V, no [S, H, 320] buffer) for
//   FLOPs; fused decompression pays off only when the query block is large:
//   the decompression/attention ratio falls as 409.6 / BLOCK_M, so a v2
//   should take 128-256 queries per block (wgmma, two consumer warpgroups)
//   and keep W_UK_h/W_UV_h chunks resident across key tiles. Heads sharing
//   a block share the latent loads, not the decompression FLOPs (W_UK_h is
//   per head).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "../common/launch.cuh"
#include "../common/mma.cuh"
#include "../common/reduce.cuh"
#include "../common/shared_memory.cuh"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"
#include "../../native/ops/mla/prefill.h"
#include "prefill_config_v1.h"
#include "prefill_tiles.h"
#include "smem_fragments.cuh"

namespace moekit {

namespace {

using namespace mla_prefill_v1_config;

// 16-byte copies of `rows` rows of `chunks` chunks each into a padded shared
// tile; rows with valid(r) false are zero-filled (nothing is read).
template <typename Src, typename Valid>
__device__ __forceinline__ void copy_rows(uint16_t* tile, int stride, int rows, int chunks, Src src, Valid valid) {
  for (int c = threadIdx.x; c < rows * chunks; c += NUM_THREADS) {
    const int r = c / chunks;
    const int ch = c % chunks;
    const bool ok = valid(r);
    cp_async_16(smem_address(tile + r * stride + ch * CHUNK_ELEMS), src(ok ? r : 0, ch), ok);
  }
}

__global__ void __launch_bounds__(NUM_THREADS) prefill_v1_kernel(const PrefillParams p) {
  const PrefillTile tile = prefill_tile(p.cu_seq_lens, p.seqs, p.tokens, BLOCK_M, p.causal, blockIdx.x);
  if (tile.q0 >= tile.q1) return;  // no queries behind this tile number
  const int64_t h = blockIdx.y;
  const int warp = threadIdx.x / WARP_SIZE;
  const int lane = threadIdx.x % WARP_SIZE;
  uint8_t* smem = dynamic_shared_memory();
  uint16_t* sQ = reinterpret_cast<uint16_t*>(smem);
  uint16_t* sK = reinterpret_cast<uint16_t*>(smem + Q_BYTES);
  uint16_t* sVt = reinterpret_cast<uint16_t*>(smem + Q_BYTES + K_BYTES);
  uint16_t* sLat = reinterpret_cast<uint16_t*>(smem + Q_BYTES + K_BYTES + VT_BYTES);
  uint16_t* sW = reinterpret_cast<uint16_t*>(smem + Q_BYTES + K_BYTES + VT_BYTES + LAT_BYTES);
  const uint16_t* w_head = p.wkv_b + h * MLA_WKV_B_ROWS * MLA_LATENT;  // [W_UK_h; W_UV_h] [256, 512]

  // The query tile; its copies complete with the first latent chunk's wait.
  copy_rows(
      sQ, Q_STRIDE, BLOCK_M, MLA_QK / CHUNK_ELEMS, [&](int r, int ch) { return p.q + ((tile.q0 + r) * p.heads + h) * MLA_QK + ch * CHUNK_ELEMS; },
      [&](int r) { return tile.q0 + r < tile.q1; });
  cp_async_commit();

  // This thread's two query rows (mma C rows g and g + 8 of the warp's m16 tile).
  int64_t query[2];
  for (int r = 0; r < 2; ++r) query[r] = tile.q0 + warp * WARP_ROWS + mma_c_coord(lane, 2 * r).row;
  float o[O_N_FRAGS][4] = {};
  float row_max[2] = {-INFINITY, -INFINITY};
  float row_sum[2] = {0.0f, 0.0f};  // this thread's part of the row sums (its columns)

  const int64_t key_tiles = prefill_key_tiles(tile, BLOCK_N);
  for (int64_t kt = 0; kt < key_tiles; ++kt) {
    const int64_t k0 = tile.start + kt * BLOCK_N;
    const auto key_valid = [&](int r) { return k0 + r < tile.end; };
    __syncthreads();  // every warp is done with the previous tile's sK and sVt
    copy_rows(
        sK + MLA_NOPE, K_STRIDE, BLOCK_N, MLA_ROPE / CHUNK_ELEMS, [&](int r, int ch) { return p.k_rope + (k0 + r) * MLA_ROPE + ch * CHUNK_ELEMS; },
        key_valid);

    // Decompression: [k_nope | v] = latent . [W_UK_h; W_UV_h]^T, this warp's 64 columns.
    float dec[DEC_M_FRAGS][DEC_N_FRAGS][4] = {};
    for (int c0 = 0; c0 < MLA_LATENT; c0 += LATENT_CHUNK) {
      copy_rows(
          sLat, LAT_STRIDE, BLOCK_N, LATENT_CHUNK / CHUNK_ELEMS,
          [&](int r, int ch) { return p.latent + (k0 + r) * MLA_LATENT + c0 + ch * CHUNK_ELEMS; }, key_valid);
      copy_rows(
          sW, W_STRIDE, MLA_WKV_B_ROWS, LATENT_CHUNK / CHUNK_ELEMS,
          [&](int r, int ch) { return w_head + r * MLA_LATENT + c0 + ch * CHUNK_ELEMS; }, [](int) { return true; });
      cp_async_commit();
      cp_async_wait<0>();
      __syncthreads();
#pragma unroll
      for (int ks = 0; ks < LATENT_CHUNK; ks += MMA_K16) {
        uint32_t a[DEC_M_FRAGS][4];
#pragma unroll
        for (int i = 0; i < DEC_M_FRAGS; ++i) load_a_fragment(a[i], sLat, LAT_STRIDE, i * MMA_M, ks, lane);
#pragma unroll
        for (int j = 0; j < DEC_N_FRAGS; ++j) {
          uint32_t b[2];
          load_b_fragment(b, sW, W_STRIDE, warp * DEC_COLS_PER_WARP + j * MMA_N, ks, lane);
#pragma unroll
          for (int i = 0; i < DEC_M_FRAGS; ++i) mma_m16n8k16<DType::BF16>(dec[i][j], a[i], b);
        }
      }
      __syncthreads();  // the next chunk overwrites sLat and sW
    }
    // The decompressed tile, rounded to bf16: k_nope into sK, v transposed into sVt.
#pragma unroll
    for (int i = 0; i < DEC_M_FRAGS; ++i) {
#pragma unroll
      for (int j = 0; j < DEC_N_FRAGS; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const RowCol rc = mma_c_coord(lane, e);
          const int key = i * MMA_M + rc.row;
          const int col = warp * DEC_COLS_PER_WARP + j * MMA_N + rc.col;
          const uint16_t v = bf16_from_float(dec[i][j][e]);
          if (col < MLA_NOPE) {
            sK[key * K_STRIDE + col] = v;
          } else {
            sVt[(col - MLA_NOPE) * VT_STRIDE + key] = v;
          }
        }
      }
    }
    __syncthreads();

    // S = Q K^T for the warp's 16 queries and the 32 keys.
    float s[S_N_FRAGS][4] = {};
#pragma unroll
    for (int ks = 0; ks < MLA_QK; ks += MMA_K16) {
      uint32_t a[4];
      load_a_fragment(a, sQ, Q_STRIDE, warp * WARP_ROWS, ks, lane);
#pragma unroll
      for (int j = 0; j < S_N_FRAGS; ++j) {
        uint32_t b[2];
        load_b_fragment(b, sK, K_STRIDE, j * MMA_N, ks, lane);
        mma_m16n8k16<DType::BF16>(s[j], a, b);
      }
    }
    // Scale and mask (keys past the sequence, and after the query when causal).
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < S_N_FRAGS; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t key = k0 + j * MMA_N + mma_c_coord(lane, e).col;
        const int r = e / 2;
        s[j][e] = prefill_visible(tile, p.causal, query[r], key) ? s[j][e] * p.softmax_scale : -INFINITY;
        tile_max[r] = fmaxf(tile_max[r], s[j][e]);
      }
    }
    // Online softmax: the row's 32 columns are spread over the 4 lanes of a group.
    float base[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      tile_max[r] = fmaxf(tile_max[r], shfl_xor(tile_max[r], 1));
      tile_max[r] = fmaxf(tile_max[r], shfl_xor(tile_max[r], 2));
      const float new_max = fmaxf(row_max[r], tile_max[r]);
      base[r] = new_max == -INFINITY ? 0.0f : new_max;  // a row with nothing visible yet stays at zero
      const float alpha = expf(row_max[r] - base[r]);
      row_max[r] = new_max;
      row_sum[r] *= alpha;
#pragma unroll
      for (int j = 0; j < O_N_FRAGS; ++j) {
        o[j][2 * r] *= alpha;
        o[j][2 * r + 1] *= alpha;
      }
    }
#pragma unroll
    for (int j = 0; j < S_N_FRAGS; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[j][e] = expf(s[j][e] - base[e / 2]);
        row_sum[e / 2] += s[j][e];
      }
    }
    // O += P V: the score fragments of keys 16kk..16kk+15 are the A fragment of one k16 step.
#pragma unroll
    for (int kk = 0; kk < BLOCK_N / MMA_K16; ++kk) {
      const uint32_t a[4] = {pack_bf16_pair(s[2 * kk][0], s[2 * kk][1]), pack_bf16_pair(s[2 * kk][2], s[2 * kk][3]),
                             pack_bf16_pair(s[2 * kk + 1][0], s[2 * kk + 1][1]), pack_bf16_pair(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int j = 0; j < O_N_FRAGS; ++j) {
        uint32_t b[2];
        load_b_fragment(b, sVt, VT_STRIDE, j * MMA_N, kk * MMA_K16, lane);
        mma_m16n8k16<DType::BF16>(o[j], a, b);
      }
    }
  }

  // out = O / l, lse = m + log(l), for the rows inside the tile.
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row_sum[r] += shfl_xor(row_sum[r], 1);
    row_sum[r] += shfl_xor(row_sum[r], 2);
    inv[r] = row_sum[r] > 0.0f ? 1.0f / row_sum[r] : 0.0f;
  }
#pragma unroll
  for (int j = 0; j < O_N_FRAGS; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t t = query[e / 2];
      if (t < tile.q1) p.out[(t * p.heads + h) * MLA_V + j * MMA_N + mma_c_coord(lane, e).col] = bf16_from_float(o[j][e] * inv[e / 2]);
    }
  }
  if (mma_thread_in_group(lane) == 0) {
    for (int r = 0; r < 2; ++r) {
      if (query[r] < tile.q1) p.lse[h * p.tokens + query[r]] = row_sum[r] > 0.0f ? row_max[r] + logf(row_sum[r]) : INFINITY;
    }
  }
}

}  // namespace

const char* prefill_v1_unsupported(const PrefillParams& p) {
  if (p.heads > 65535) return "heads must be at most 65535 (a grid dimension)";
  if (prefill_query_tiles(p.tokens, p.seqs, BLOCK_M) > 2147483647) return "T / 64 + B must be below 2^31 (query tiles of the grid)";
  return nullptr;
}

void prefill_v1(const PrefillParams& p, cudaStream_t stream) {
  if (p.tokens == 0 || p.heads == 0 || p.seqs == 0) return;
  const dim3 grid(static_cast<unsigned>(prefill_query_tiles(p.tokens, p.seqs, BLOCK_M)), static_cast<unsigned>(p.heads));
  launch_kernel("prefill_v1_kernel", prefill_v1_kernel, grid, NUM_THREADS, SMEM_BYTES, stream, p);
}

}  // namespace moekit
