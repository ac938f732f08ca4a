// mla.decode v3 on Hopper (sm_90a only): the math of native/ops/mla/decode.h
// with wgmma and TMA, after FlashMLA's design; the same split-KV schedule
// (cuda/mla/paged_kv.h) and the same combine kernel as v1.
//
//  - Split kernel, grid (row groups, splits, batch): a block takes 64 query
//    rows of one sequence (query token x head, packed as v1 packs them: the
//    rows of q[b] are contiguous) and the keys of one split, a page (64
//    keys) at a time. Page size 64 only (mla_decode_v3_unsupported).
//  - Shared memory (decode_config_v3.h): q as nine 128B-swizzled [64 x 64]
//    bf16 column blocks, loaded once by the whole block with plain loads;
//    the page stage, nine blocks written by TMA (a tensor map over the cache
//    as [blocks * 64, 576] bf16, box 64 columns x 64 rows); a bf16 P tile
//    per math warpgroup.
//  - Warp-specialised: warpgroup 2 is the producer (setmaxnreg down). Its
//    first thread issues the page's nine TMA loads on the stage's `full`
//    mbarrier; its first warp then waits for them and zero-fills the rows of
//    the keys the split must not read (past the split's end, which includes
//    past the sequence's length, or on a page id outside [0, blocks): such a
//    page is not loaded at all), so NaN in unused slots never meets a
//    product, and arrives on `ready`. Warpgroups 0 and 1 do the math and
//    arrive on `empty` when they are done with the stage.
//  - Per page each math warpgroup computes S = q · Kᵀ (64 x 64, wgmma
//    m64n64k16 over K = 576: 36 steps, both operands K-major), masks it
//    (-inf for keys outside the split or the page, and, when causal, past
//    the row's last visible key), updates the online softmax in f32 (expf,
//    rows reduced over the quad of lanes that hold them), rescales its O,
//    writes P (bf16) to its P tile, and accumulates O += P · V over its 256
//    output columns (wgmma m64n256k16, A = P K-major, B = the page's V
//    columns MN-major: rows are keys, the channels contiguous). Both
//    warpgroups compute the same S; each keeps its own (identical) softmax
//    state, so they never wait for each other.
//  - Epilogue: the split's normalised partial out (f32) and lse, as v1
//    writes them; the combine (mla_decode_combine, decode_combine.cu) merges the
//    splits.
#include <cuda.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "../../common/launch.cuh"
#include "../../common/shared_memory.cuh"
#include "../../common/sm90/accumulator_layout.h"
#include "../../common/sm90/matrix_descriptor.h"
#include "../../common/sm90/mbarrier.cuh"
#include "../../common/sm90/swizzle.h"
#include "../../common/sm90/tensor_map.h"
#include "../../common/sm90/tma.cuh"
#include "../../common/sm90/warpgroup.cuh"
#include "../../common/sm90/wgmma.cuh"
#include "../../../native/common/float_convert.h"
#include "../../../native/common/math.h"
#include "../../../native/ops/mla/decode.h"
#include "../paged_kv.h"
#include "decode_config_v3.h"

namespace moekit {

namespace {

// Device code below exists only in the sm_90a compilation (the other
// targets get the trapping kernel stub and nothing it would not use).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

constexpr int ROWS = MLA_DECODE_V3_ROWS;
constexpr int PAGE = MLA_DECODE_V3_PAGE;
constexpr int COL_BLOCKS = MLA_DECODE_V3_COL_BLOCKS;
constexpr uint32_t BLOCK_BYTES = MLA_DECODE_V3_BLOCK_BYTES;
constexpr uint32_t TILE_BYTES = MLA_DECODE_V3_TILE_BYTES;
constexpr int STAGES = MLA_DECODE_V3_STAGES;
constexpr int MATH_WARPGROUPS = MLA_DECODE_V3_MATH_WARPGROUPS;
constexpr int MATH_WARPS = MATH_WARPGROUPS * 4;
constexpr int S_REGS = 32;   // 64 x 64 scores
constexpr int O_REGS = 128;  // 64 x 256 outputs

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

__global__ void __launch_bounds__(MLA_DECODE_V3_THREADS, 1)
    mla_decode_v3_kernel(const MlaDecodeParams p, const __grid_constant__ CUtensorMap cache_map) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using namespace sm90;
  uint8_t* smem = dynamic_shared_memory();
  const uint32_t base = round_up<uint32_t>(shared_address(smem), SWIZZLE_128B_PATTERN_BYTES);
  uint8_t* const base_ptr = smem + (base - shared_address(smem));
  const uint32_t q_tile = base + MLA_DECODE_V3_Q_OFFSET;
  const auto stage_tile = [&](int s) { return base + MLA_DECODE_V3_STAGE_OFFSET + s * TILE_BYTES; };
  const auto full_barrier = [&](int s) { return base + MLA_DECODE_V3_BARRIER_OFFSET + s * 8u; };
  const auto ready_barrier = [&](int s) { return base + MLA_DECODE_V3_BARRIER_OFFSET + (STAGES + s) * 8u; };
  const auto empty_barrier = [&](int s) { return base + MLA_DECODE_V3_BARRIER_OFFSET + (2 * STAGES + s) * 8u; };

  const int tid = static_cast<int>(threadIdx.x);
  const int64_t b = blockIdx.z;
  const int split = static_cast<int>(blockIdx.y);
  const int64_t rows_total = static_cast<int64_t>(p.q_len) * p.heads;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * ROWS;
  const int64_t capacity = static_cast<int64_t>(p.max_pages) * p.page_size;
  const int64_t len = mla_clamped_length(p.seq_lens[b], capacity);
  const MlaKeyRange keys = mla_split_keys(len, p.splits, split, PAGE);
  const int32_t* table = p.block_table + b * p.max_pages;

  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbarrier_init(full_barrier(s), 1);           // the producer's arrive.expect_tx
      mbarrier_init(ready_barrier(s), 1);          // the producer warp's lane 0, after the zero fill
      mbarrier_init(empty_barrier(s), MATH_WARPS); // lane 0 of every math warp
    }
    mbarrier_init_fence();
  }
  // q: 64 rows x 72 chunks of 16 bytes, chunk c of row r into column block
  // c / 8 at the swizzled position of (r, c % 8); rows past the sequence's
  // rows are zeros.
  for (int i = tid; i < ROWS * COL_BLOCKS * 8; i += MLA_DECODE_V3_THREADS) {
    const int r = i / (COL_BLOCKS * 8);
    const int c = i % (COL_BLOCKS * 8);
    const int64_t row = row0 + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (row < rows_total) v = *reinterpret_cast<const uint4*>(p.q + (b * rows_total + row) * MLA_HEAD + c * 8);
    *reinterpret_cast<uint4*>(base_ptr + MLA_DECODE_V3_Q_OFFSET + (c / 8) * BLOCK_BYTES + swizzle_128b(r * 128 + (c % 8) * 16)) = v;
  }
  fence_proxy_async_shared();
  __syncthreads();

  // Read through a shuffle so the compiler knows the role is warp-uniform.
  const int warpgroup = __shfl_sync(0xffffffffu, tid / WARPGROUP_THREADS, 0);

  if (warpgroup == MATH_WARPGROUPS) {
    // ---- producer ----
    warpgroup_shrink_registers<MLA_DECODE_V3_PRODUCER_REGISTERS>();
    const int ptid = tid - MATH_WARPGROUPS * WARPGROUP_THREADS;
    if (ptid < 32) {
      const int lane = ptid;
      int stage = 0;
      uint32_t phase = 0;
      for (int64_t k0 = keys.begin; k0 < keys.end; k0 += PAGE) {
        const int64_t first = mla_cache_row(table, p.max_pages, p.page_size, p.blocks, k0);  // the page's row 0, or -1
        if (lane == 0) {
          mbarrier_wait(empty_barrier(stage), phase ^ 1);
          mbarrier_arrive_expect_tx(full_barrier(stage), first >= 0 ? TILE_BYTES : 0u);
          if (first >= 0) {
            for (int j = 0; j < COL_BLOCKS; ++j) {
              tma_load_2d(stage_tile(stage) + j * BLOCK_BYTES, &cache_map, full_barrier(stage), j * MLA_DECODE_V3_COL_BLOCK,
                          static_cast<int32_t>(first));
            }
          }
        }
        __syncwarp();
        mbarrier_wait(full_barrier(stage), phase);
        // Keys [valid, 64) of the page are zeroed: all of them on a page
        // that was not loaded (the stage then holds the previous page, or
        // the poison of fresh shared memory).
        const int valid = first < 0 ? 0 : static_cast<int>(keys.end - k0 < PAGE ? keys.end - k0 : PAGE);
        if (valid < PAGE) {
          uint8_t* const tile = base_ptr + MLA_DECODE_V3_STAGE_OFFSET + stage * TILE_BYTES;
          const int chunks = (PAGE - valid) * COL_BLOCKS * 8;
          for (int i = lane; i < chunks; i += 32) {
            const int r = valid + i / (COL_BLOCKS * 8);
            const int c = i % (COL_BLOCKS * 8);
            *reinterpret_cast<uint4*>(tile + (c / 8) * BLOCK_BYTES + swizzle_128b(r * 128 + (c % 8) * 16)) = make_uint4(0, 0, 0, 0);
          }
          fence_proxy_async_shared();
        }
        __syncwarp();
        if (lane == 0) mbarrier_arrive(ready_barrier(stage));
        if (++stage == STAGES) {
          stage = 0;
          phase ^= 1;
        }
      }
    }
  } else {
    // ---- math ----
    warpgroup_grow_registers<MLA_DECODE_V3_MATH_REGISTERS>();
    const int thread = tid % WARPGROUP_THREADS;
    const bool warp_leader = tid % 32 == 0;
    const int base_row = accumulator_base_row(thread);  // + 0 or + 8
    const int base_col = accumulator_base_col(thread);
    const uint32_t p_tile = base + MLA_DECODE_V3_P_OFFSET + warpgroup * MLA_DECODE_V3_P_BYTES;
    uint8_t* const p_ptr = base_ptr + MLA_DECODE_V3_P_OFFSET + warpgroup * MLA_DECODE_V3_P_BYTES;

    // Keys [0, limit[h]) are visible to this thread's rows base_row + 8h.
    int64_t limit[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t row = row0 + base_row + 8 * h;
      int64_t lim = 0;
      if (row < rows_total) {
        lim = p.causal ? len - p.q_len + row / p.heads + 1 : len;
        if (lim < 0) lim = 0;
        if (lim > len) lim = len;
      }
      limit[h] = lim;
    }
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};
    float o[O_REGS];
    float s[S_REGS];
#pragma unroll
    for (int r = 0; r < O_REGS; ++r) o[r] = 0.0f;
#pragma unroll
    for (int r = 0; r < S_REGS; ++r) s[r] = 0.0f;

    int stage = 0;
    uint32_t phase = 0;
    for (int64_t k0 = keys.begin; k0 < keys.end; k0 += PAGE) {
      const bool page_ok = mla_cache_row(table, p.max_pages, p.page_size, p.blocks, k0) >= 0;
      mbarrier_wait(ready_barrier(stage), phase);
      const uint32_t tile = stage_tile(stage);

      // S = q · Kᵀ over the nine column blocks, four k16 steps each.
#pragma unroll
      for (int r = 0; r < S_REGS; ++r) fence_operand(s[r]);
      wgmma_fence();
#pragma unroll
      for (int j = 0; j < COL_BLOCKS; ++j) {
#pragma unroll
        for (int ks = 0; ks < 4; ++ks) {
          const uint64_t da = kmajor_sw128_descriptor(q_tile + j * BLOCK_BYTES + ks * 32);
          const uint64_t db = kmajor_sw128_descriptor(tile + j * BLOCK_BYTES + ks * 32);
          WgmmaBF16<64, 0>::mma(s, da, db, j > 0 || ks > 0);
        }
      }
      wgmma_commit_group();
#pragma unroll
      for (int r = 0; r < S_REGS; ++r) fence_operand(s[r]);
      wgmma_wait_group<0>();
#pragma unroll
      for (int r = 0; r < S_REGS; ++r) fence_operand(s[r]);

      // Mask and scale; the tile's row maxima.
      float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int r = 0; r < S_REGS; ++r) {
        const int h = accumulator_row_offset(r) / 8;
        const int64_t t = k0 + base_col + accumulator_col_offset(r);
        const bool visible = page_ok && t < keys.end && t < limit[h];
        s[r] = visible ? s[r] * p.softmax_scale : -INFINITY;
        tile_max[h] = fmaxf(tile_max[h], s[r]);
      }
      float alpha[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float mx = fmaxf(m[h], quad_max(tile_max[h]));
        // m_old = -inf gives alpha 0 (nothing to rescale); all -inf keeps alpha 1 and p 0.
        alpha[h] = mx == -INFINITY ? 1.0f : expf(m[h] - mx);
        m[h] = mx;
      }
      float sum[2] = {0.0f, 0.0f};
#pragma unroll
      for (int r = 0; r < S_REGS; ++r) {
        const int h = accumulator_row_offset(r) / 8;
        s[r] = s[r] == -INFINITY ? 0.0f : expf(s[r] - m[h]);
        sum[h] += s[r];
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) l[h] = l[h] * alpha[h] + quad_sum(sum[h]);
#pragma unroll
      for (int r = 0; r < O_REGS; ++r) o[r] *= alpha[accumulator_row_offset(r) / 8];

      // P (bf16) into this warpgroup's tile: row = query row, 64 keys = one
      // 128-byte swizzled row; registers r, r + 1 are adjacent keys. The
      // previous page's P · V has completed (waited below).
#pragma unroll
      for (int r = 0; r < S_REGS; r += 2) {
        const int row = base_row + accumulator_row_offset(r);
        const int col = base_col + accumulator_col_offset(r);
        const uint32_t bits = static_cast<uint32_t>(bf16_from_float(s[r])) | (static_cast<uint32_t>(bf16_from_float(s[r + 1])) << 16);
        *reinterpret_cast<uint32_t*>(p_ptr + swizzle_128b(row * 128 + col * 2)) = bits;
      }
      fence_proxy_async_shared();
      named_barrier_sync(1 + warpgroup, WARPGROUP_THREADS);

      // O += P · V: four k16 steps of 16 keys; V's columns [256 w, 256 w + 256)
      // are column blocks 4w .. 4w + 3 of the stage, MN-major (LBO: the next
      // block, SBO: the next 8 keys).
#pragma unroll
      for (int r = 0; r < O_REGS; ++r) fence_operand(o[r]);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) {
        const uint64_t da = kmajor_sw128_descriptor(p_tile + ks * 32);
        const uint64_t db = mnmajor_sw128_descriptor(tile + (4 * warpgroup) * BLOCK_BYTES + ks * 16 * 128, BLOCK_BYTES, 8 * 128);
        WgmmaBF16<256, 1>::mma(o, da, db, true);
      }
      wgmma_commit_group();
#pragma unroll
      for (int r = 0; r < O_REGS; ++r) fence_operand(o[r]);
      wgmma_wait_group<0>();
#pragma unroll
      for (int r = 0; r < O_REGS; ++r) fence_operand(o[r]);
      if (warp_leader) mbarrier_arrive(empty_barrier(stage));
      if (++stage == STAGES) {
        stage = 0;
        phase ^= 1;
      }
    }

    // The split's partial: out / l (0 when it saw no key), lse.
    const int64_t part = (b * p.splits + split) * rows_total;
    float inv[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) inv[h] = l[h] > 0.0f ? 1.0f / l[h] : 0.0f;
#pragma unroll
    for (int r = 0; r < O_REGS; r += 2) {
      const int h = accumulator_row_offset(r) / 8;
      const int64_t row = row0 + base_row + 8 * h;
      if (row >= rows_total) continue;
      const int col = warpgroup * MLA_DECODE_V3_OUT_COLS + base_col + accumulator_col_offset(r);
      *reinterpret_cast<float2*>(p.out_accum + (part + row) * MLA_LATENT + col) = make_float2(o[r] * inv[h], o[r + 1] * inv[h]);
    }
    if (warpgroup == 0 && thread % 4 == 0) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t row = row0 + base_row + 8 * h;
        if (row < rows_total) p.lse_accum[part + row] = l[h] > 0.0f ? m[h] + logf(l[h]) : -INFINITY;
      }
    }
  }
#elif defined(__CUDA_ARCH__)
  // Compiled for a GPU without sm_90a features: the version table never
  // launches this kernel there (min_sm = max_sm = 90).
  (void)p, (void)cache_map;
  __trap();
#endif
}

bool aligned_16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace

const char* mla_decode_v3_unsupported(const MlaDecodeParams& p) {
  if (p.cache_dtype != DType::BF16) return "the cache must be bf16 (v3 has no e4m3 path yet)";
  if (p.blocks < 1) return "the cache must have at least one page (a tensor map cannot describe an empty one)";
  if (p.page_size != MLA_DECODE_V3_PAGE) return "the page size must be 64 (a page is one TMA box and one key tile)";
  if (p.blocks * MLA_DECODE_V3_PAGE > std::numeric_limits<int32_t>::max()) return "the cache must have fewer than 2^31 rows (32-bit TMA coordinates)";
  if (!aligned_16(p.q) || !aligned_16(p.cache)) return "q and the cache must be 16-byte aligned";
  return nullptr;
}

void mla_decode_v3(const MlaDecodeParams& p, cudaStream_t stream) {
  const int64_t rows_total = static_cast<int64_t>(p.q_len) * p.heads;
  if (p.batch == 0 || rows_total == 0) return;
  sm90::TensorMap2dSpec spec{};
  spec.data_type = CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  spec.element_bytes = 2;
  spec.global_dim[0] = MLA_HEAD;
  spec.global_dim[1] = static_cast<uint64_t>(p.blocks) * MLA_DECODE_V3_PAGE;
  spec.global_stride[0] = MLA_HEAD * 2;
  spec.box_dim[0] = MLA_DECODE_V3_COL_BLOCK;
  spec.box_dim[1] = MLA_DECODE_V3_PAGE;
  spec.element_strides[0] = 1;
  spec.element_strides[1] = 1;
  spec.interleave = CU_TENSOR_MAP_INTERLEAVE_NONE;
  spec.swizzle = CU_TENSOR_MAP_SWIZZLE_128B;
  spec.l2_promotion = CU_TENSOR_MAP_L2_PROMOTION_L2_256B;
  spec.oob_fill = CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE;
  const CUtensorMap map = sm90::encode_tensor_map(spec, p.cache);
  const dim3 grid(static_cast<unsigned>(ceil_div<int64_t>(rows_total, MLA_DECODE_V3_ROWS)), static_cast<unsigned>(p.splits), static_cast<unsigned>(p.batch));
  launch_kernel("mla_decode_v3_kernel", mla_decode_v3_kernel, grid, dim3(MLA_DECODE_V3_THREADS), MLA_DECODE_V3_SMEM_BYTES, stream, p, map);
  mla_decode_combine(p, stream);
}

}  // namespace moekit
