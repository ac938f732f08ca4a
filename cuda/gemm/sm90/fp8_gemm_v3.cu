// fp8Gemm v3 on Hopper (sm_90a only): the math of fp8_gemm.h (docs/architecture.md,
// "Numeric conventions": each 128-wide K block summed in f32 on the tensor cores, then
// promoted acc += partial * a_scales[row, kb] * b_scales[col / 128, kb]),
// laid out after DeepGEMM's SM90 "1D2D" kernel:
//
//  - Persistent grid, one block per multiprocessor, walking the output tiles
//    its Scheduler type names (sm90/tile_scheduler.h: for the normal GEMM the
//    banded order of TileScheduler; moe.groupedGemm swaps in the grouped
//    scheduler over MoE experts, whose empty tiles every role skips).
//  - Warp-specialised: warpgroup 2 is the producer (setmaxnreg down to 40;
//    its first thread issues TMA loads of the A and B tiles into 128B-
//    swizzled shared memory), warpgroups 0 and 1 do the math (setmaxnreg up
//    to 232).
//  - NUM_STAGES-deep ring of stages, each one 128-wide K block (= one scale
//    block) of A and B, with a full mbarrier (TMA bytes landed) and an empty
//    mbarrier (all eight math warps done reading) per stage.
//  - Per stage each math warpgroup runs four wgmma m64nNk32 e4m3 steps from
//    shared-memory descriptors into a fresh partial accumulator, waits for
//    them, releases the stage, and promotes the partial into its f32
//    accumulator with the two scales on the CUDA cores. A's scales (row-major
//    [m, ceil(k/128)], too narrow for a TMA box) are plain loads of the two
//    rows each thread's fragment holds, issued before the stage wait.
//  - Epilogue straight from registers to C (bf16 by __float2bfloat16_rn, or
//    f32), bounds-checked; TMA zero-fills the parts of A and B boxes past M,
//    N and K, so ragged shapes need no other special path.
//
// Constraints (fp8_gemm_v3_unsupported): e4m3 x e4m3; k % 16 == 0 (TMA row
// strides are 16-byte multiples); m, n, k < 2^31; 16-byte-aligned buffers.
// Tile sizes and budgets: fp8_gemm_config_v3.h. CPU-checkable pieces (tile walk,
// descriptors, swizzle, fragment layout, scale indices, tensor-map
// parameters): tests/native/sm90_*_check.cc. GPU edge cases against the
// CPU twin: tests/gemm/sm90/fp8_gemm_v3.test.ts.
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>

#include "../../common/check.h"
#include "../../common/gated_tile.h"
#include "../../common/launch.cuh"
#include "../../common/shared_memory.cuh"
#include "../../../native/common/math.h"
#include "../../common/sm90/accumulator_layout.h"
#include "../../common/sm90/matrix_descriptor.h"
#include "../../common/sm90/mbarrier.cuh"
#include "../../common/sm90/tensor_map.h"
#include "../../common/sm90/tile_scheduler.h"
#include "../../common/sm90/tma.cuh"
#include "../../common/sm90/warpgroup.cuh"
#include "../../common/sm90/wgmma.cuh"
#include "fp8_gemm_config_v3.h"
#include "../../../native/ops/gemm/fp8_gemm.h"

namespace moekit {

namespace {

// Gated tiles (gated_tile.h): gate and up rows alternate in blocks of one
// wgmma n8 column group, loaded as boxes of this many rows.
constexpr int GATE_ROWS = 8;

// ---- epilogue ----------------------------------------------------------------

// Device code below exists only in the sm_90a compilation (the other
// targets get the trapping kernel stub and nothing it would not use).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

// Writes C[row, col] = v0 and C[row, col + 1] = v1 where they exist. `pairs`:
// n is even, so (row * n + col) is even for the even col of a fragment pair
// and the pair is one aligned 4- or 8-byte store.
__device__ __forceinline__ void store_pair(const Fp8GemmParams& p, bool pairs, int64_t row, int64_t col, float v0, float v1) {
  const int64_t i = row * p.n + col;
  if (p.c_dtype == DType::BF16) {
    __nv_bfloat16* c = static_cast<__nv_bfloat16*>(p.c);
    if (pairs && col + 1 < p.n) {
      *reinterpret_cast<__nv_bfloat162*>(c + i) = __floats2bfloat162_rn(v0, v1);
    } else {
      if (col < p.n) c[i] = __float2bfloat16_rn(v0);
      if (col + 1 < p.n) c[i + 1] = __float2bfloat16_rn(v1);
    }
  } else {
    float* c = static_cast<float*>(p.c);
    if (pairs && col + 1 < p.n) {
      *reinterpret_cast<float2*>(c + i) = make_float2(v0, v1);
    } else {
      if (col < p.n) c[i] = v0;
      if (col + 1 < p.n) c[i + 1] = v1;
    }
  }
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

// ---- kernel ------------------------------------------------------------------

// Scheduler: which tiles a block walks and where they lie in A, B and C
// (sm90/tile_scheduler.h); the launcher passes the normal GEMM's, a grouped
// GEMM over MoE experts would pass its own.
template <typename Cfg, typename Scheduler>
__global__ void __launch_bounds__(Cfg::NUM_THREADS, 1)
    fp8_gemm_v3_kernel(const Fp8GemmParams p, const __grid_constant__ CUtensorMap a_map, const __grid_constant__ CUtensorMap b_map) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using namespace sm90;
  constexpr int R = Cfg::ACCUM_REGISTERS;
  using Mma = WgmmaE4M3<Cfg::WARPGROUP_N>;
  static_assert(Mma::REGISTERS == R, "fragment size of the chosen wgmma");

  // The swizzled stage buffers must start on 1024-byte boundaries; the
  // dynamic base is aligned up here rather than assumed (SMEM_BYTES has the slack).
  uint8_t* smem = dynamic_shared_memory();
  const uint32_t base = round_up<uint32_t>(shared_address(smem), SWIZZLE_128B_PATTERN_BYTES);
  const uint32_t barriers = base + Cfg::NUM_STAGES * Cfg::STAGE_BYTES;
  const auto a_stage = [&](int s) { return base + s * Cfg::STAGE_BYTES; };
  const auto b_stage = [&](int s) { return base + s * Cfg::STAGE_BYTES + Cfg::A_STAGE_BYTES; };
  const auto full_barrier = [&](int s) { return barriers + s * static_cast<uint32_t>(sizeof(uint64_t)); };
  const auto empty_barrier = [&](int s) { return barriers + (Cfg::NUM_STAGES + s) * static_cast<uint32_t>(sizeof(uint64_t)); };

  if (threadIdx.x == 0) {
    for (int s = 0; s < Cfg::NUM_STAGES; ++s) {
      mbarrier_init(full_barrier(s), 1);                  // the producer's arrive.expect_tx
      mbarrier_init(empty_barrier(s), Cfg::MATH_WARPS);  // lane 0 of every math warp
    }
    mbarrier_init_fence();
  }
  __syncthreads();

  const Scheduler tiles(p);
  const int64_t num_tiles = tiles.num_tiles();
  const int num_k_blocks = static_cast<int>(p.scale_k);
  // Read through a shuffle so the compiler knows the role is warp-uniform.
  const int warpgroup = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x) / WARPGROUP_THREADS, 0);

  if (warpgroup == Cfg::NUM_MATH_WARPGROUPS) {
    // ---- producer ----
    warpgroup_shrink_registers<Cfg::PRODUCER_REGISTERS>();
    if (threadIdx.x == Cfg::PRODUCER_THREAD) {
      tma_prefetch_descriptor(&a_map);
      tma_prefetch_descriptor(&b_map);
      int stage = 0;
      uint32_t phase = 0;
      for (int64_t t = blockIdx.x; t < num_tiles; t += gridDim.x) {
        const GemmTile tile = tiles.tile(t);
        if (tile.empty()) continue;  // the math warpgroups skip it too
        const int32_t a_row0 = static_cast<int32_t>(tile.a_row0);
        const int32_t b_row0 = static_cast<int32_t>(tile.b_row0);
        for (int kb = 0; kb < num_k_blocks; ++kb) {
          // Parity phase ^ 1: the slot's previous use must have been released
          // (on the first lap this returns at once, see mbarrier.cuh).
          mbarrier_wait(empty_barrier(stage), phase ^ 1);
          mbarrier_arrive_expect_tx(full_barrier(stage), Cfg::STAGE_BYTES);
          tma_load_2d(a_stage(stage), &a_map, full_barrier(stage), kb * Cfg::BLOCK_K, a_row0);
          if (tile.up_offset == 0) {
            tma_load_2d(b_stage(stage), &b_map, full_barrier(stage), kb * Cfg::BLOCK_K, b_row0);
          } else {
            // Gated (gated_tile.h): b_map's boxes are GATE_ROWS rows; gate and up blocks alternate.
            const int32_t up = static_cast<int32_t>(tile.up_offset);
#pragma unroll 1
            for (int q = 0; q < Cfg::BLOCK_N / (2 * GATE_ROWS); ++q) {
              const uint32_t dst = b_stage(stage) + static_cast<uint32_t>(2 * q * GATE_ROWS * Cfg::BLOCK_K);
              tma_load_2d(dst, &b_map, full_barrier(stage), kb * Cfg::BLOCK_K, b_row0 + q * GATE_ROWS);
              tma_load_2d(dst + GATE_ROWS * Cfg::BLOCK_K, &b_map, full_barrier(stage), kb * Cfg::BLOCK_K, b_row0 + q * GATE_ROWS + up);
            }
          }
          if (++stage == Cfg::NUM_STAGES) {
            stage = 0;
            phase ^= 1;
          }
        }
      }
    }
  } else {
    // ---- math ----
    warpgroup_grow_registers<Cfg::MATH_REGISTERS>();
    const int thread = static_cast<int>(threadIdx.x) % WARPGROUP_THREADS;
    const bool warp_leader = threadIdx.x % 32 == 0;
    const int row_in_tile = Cfg::warpgroup_row(warpgroup) + accumulator_base_row(thread);  // register rows: +0 or +8
    const int col_in_tile = Cfg::warpgroup_col(warpgroup) + accumulator_base_col(thread);
    const uint32_t a_offset = Cfg::warpgroup_a_offset(warpgroup);
    const uint32_t b_offset = Cfg::warpgroup_b_offset(warpgroup);
    const bool pairs = p.n % 2 == 0;

    float acc[R];
    float partial[R];
    // The first wgmma of a stage overwrites the partial (accumulate = false);
    // zeroing once keeps its "+f" operands defined for the compiler.
#pragma unroll
    for (int r = 0; r < R; ++r) partial[r] = 0.0f;

    int stage = 0;
    uint32_t phase = 0;
    for (int64_t t = blockIdx.x; t < num_tiles; t += gridDim.x) {
      const GemmTile tile = tiles.tile(t);
      if (tile.empty()) continue;  // as the producer does
      const int64_t row0 = tile.a_row0 + row_in_tile;
      const int64_t row1 = row0 + 8;
      const bool row0_in = row0 < tile.a_rows;
      const bool row1_in = row1 < tile.a_rows;
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r] = 0.0f;

      for (int kb = 0; kb < num_k_blocks; ++kb) {
        // Issued before the stage wait so their latency hides behind it.
        const float sb = __ldg(p.b_scales + fp8_gemm_v3_b_scale_index(tile.b_scale_row, kb, p.scale_k));
        const float sb_up = tile.up_offset ? __ldg(p.b_scales + fp8_gemm_v3_b_scale_index(tile.b_up_scale_row, kb, p.scale_k)) : sb;
        const float sa0 = row0_in ? __ldg(p.a_scales + fp8_gemm_v3_a_scale_index(row0, kb, p.scale_k)) : 0.0f;
        const float sa1 = row1_in ? __ldg(p.a_scales + fp8_gemm_v3_a_scale_index(row1, kb, p.scale_k)) : 0.0f;

        mbarrier_wait(full_barrier(stage), phase);
#pragma unroll
        for (int r = 0; r < R; ++r) fence_operand(partial[r]);
        wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < Cfg::K_STEPS; ++ks) {
          const uint64_t da = kmajor_sw128_descriptor(a_stage(stage) + a_offset + ks * Cfg::WGMMA_K);
          const uint64_t db = kmajor_sw128_descriptor(b_stage(stage) + b_offset + ks * Cfg::WGMMA_K);
          Mma::mma(partial, da, db, ks > 0);
        }
        wgmma_commit_group();
#pragma unroll
        for (int r = 0; r < R; ++r) fence_operand(partial[r]);
        wgmma_wait_group<0>();
#pragma unroll
        for (int r = 0; r < R; ++r) fence_operand(partial[r]);
        // This warp's reads of the stage are done; the producer refills it
        // once all eight math warps have said so.
        if (warp_leader) mbarrier_arrive(empty_barrier(stage));
        if (++stage == Cfg::NUM_STAGES) {
          stage = 0;
          phase ^= 1;
        }

        // Promotion: registers with row offset 0 belong to row0, the others to
        // row1; in a gated tile, odd 8-column groups are up columns.
        const float s0 = sa0 * sb;
        const float s1 = sa1 * sb;
        const float u0 = sa0 * sb_up;
        const float u1 = sa1 * sb_up;
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const bool up = (r / 4) % 2 == 1;
          acc[r] = fmaf(partial[r], accumulator_row_offset(r) == 0 ? (up ? u0 : s0) : (up ? u1 : s1), acc[r]);
        }
      }

      // Routing weights of moe.groupedGemm, applied before rounding.
      const float rs0 = p.row_scale && row0_in ? p.row_scale[row0] : 1.0f;
      const float rs1 = p.row_scale && row1_in ? p.row_scale[row1] : 1.0f;
      if (tile.up_offset == 0) {
#pragma unroll
        for (int r = 0; r < R; r += 2) {
          const bool upper = accumulator_row_offset(r) == 0;
          if (upper ? !row0_in : !row1_in) continue;
          const float rs = upper ? rs0 : rs1;
          const float v0 = p.row_scale ? acc[r] * rs : acc[r];
          const float v1 = p.row_scale ? acc[r + 1] * rs : acc[r + 1];
          store_pair(p, pairs, upper ? row0 : row1, tile.c_col0 + col_in_tile + accumulator_col_offset(r), v0, v1);
        }
      } else {
        // Gated: registers r (gate) and r + 4 (up) hold the same output columns.
#pragma unroll
        for (int r = 0; r < R; r += 2) {
          if ((r / 4) % 2 == 1) continue;
          const bool upper = accumulator_row_offset(r) == 0;
          if (upper ? !row0_in : !row1_in) continue;
          const float rs = upper ? rs0 : rs1;
          const float v0 = silu_times(acc[r], acc[r + 4]);
          const float v1 = silu_times(acc[r + 1], acc[r + 5]);
          const int64_t col = tile.c_col0 + gated_column(col_in_tile + accumulator_col_offset(r), GATE_ROWS);
          store_pair(p, pairs, upper ? row0 : row1, col, p.row_scale ? v0 * rs : v0, p.row_scale ? v1 * rs : v1);
        }
      }
    }
  }
#elif defined(__CUDA_ARCH__)
  // Compiled for a GPU without sm_90a features: the version table never
  // launches this kernel there (min_sm = max_sm = 90).
  (void)p, (void)a_map, (void)b_map;
  __trap();
#endif
}

// ---- launchers -----------------------------------------------------------------

template <typename Cfg, typename Scheduler>
void launch_fp8_gemm_v3(const Fp8GemmParams& p, cudaStream_t stream) {
  const CUtensorMap a_map = sm90::encode_tensor_map(sm90::kmajor_fp8_tile_map_spec(p.m, p.k, Cfg::BLOCK_M, Cfg::BLOCK_K), p.a);
  static_assert(Cfg::WARPGROUP_N % (2 * GATE_ROWS) == 0, "a warpgroup's columns hold whole gate/up block pairs");
  const uint32_t b_box_rows = p.gated ? GATE_ROWS : Cfg::BLOCK_N;
  const CUtensorMap b_map =
      sm90::encode_tensor_map(sm90::kmajor_fp8_tile_map_spec(gemm_b_rows(p.groups, p.n, p.gated), p.k, b_box_rows, Cfg::BLOCK_K), p.b);
  const int64_t grid = sm90::persistent_grid_size(Scheduler(p).num_tiles(), p.num_sms);
  const auto kernel = fp8_gemm_v3_kernel<Cfg, Scheduler>;
  launch_kernel("fp8_gemm_v3_kernel", kernel, static_cast<unsigned>(grid), Cfg::NUM_THREADS, Cfg::SMEM_BYTES, stream, p, a_map, b_map);
}

// The normal GEMM, or moe.groupedGemm's experts with the grouped scheduler.
template <typename Cfg>
void launch_fp8_gemm_v3(const Fp8GemmParams& p, cudaStream_t stream) {
  if (p.groups.layout == GroupLayout::None) {
    launch_fp8_gemm_v3<Cfg, sm90::NormalPersistentScheduler<Cfg::BLOCK_M, Cfg::BLOCK_N, Cfg::GROUP_N>>(p, stream);
  } else {
    launch_fp8_gemm_v3<Cfg, sm90::GroupedPersistentScheduler<Cfg::BLOCK_M, Cfg::BLOCK_N, Cfg::GROUP_N>>(p, stream);
  }
}

bool aligned_16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace

const char* fp8_gemm_v3_unsupported(const Fp8GemmParams& p) {
  if (p.a_format != DType::E4M3 || p.b_format != DType::E4M3) return "a and b must both be e4m3 (wgmma e4m3 x e4m3 only)";
  if (p.k % 16 != 0) return "k must be a multiple of 16 (TMA needs row strides in 16-byte multiples)";
  constexpr int64_t limit = std::numeric_limits<int32_t>::max();
  if (p.m > limit || gemm_b_rows(p.groups, p.n, p.gated) > limit || p.k > limit) {
    return "m, n (times the experts) and k must be below 2^31 (32-bit TMA coordinates)";
  }
  if (!aligned_16(p.a) || !aligned_16(p.b) || !aligned_16(p.c)) return "a, b and the output must be 16-byte aligned";
  return nullptr;
}

// M <= 64 takes the 64-row configuration: a 128-row tile would leave half
// of every wgmma on zero padding. So does a grouped GEMM whose experts
// average at most 64 rows (decode): its tiles would be mostly padding too.
void fp8_gemm_v3(const Fp8GemmParams& p, cudaStream_t stream) {
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) {
    // An empty sum (a tensor map cannot describe a zero-width matrix); +0 is all-zero bytes in bf16 and f32.
    MOEKIT_CUDA_CHECK(cudaMemsetAsync(p.c, 0, static_cast<size_t>(p.m * p.n * dtype_size(p.c_dtype)), stream));
    return;
  }
  const int64_t rows_per_expert = p.groups.layout == GroupLayout::Masked ? p.groups.max_rows : p.m / p.groups.experts;
  if (rows_per_expert <= Fp8GemmV3Small::BLOCK_M) {
    launch_fp8_gemm_v3<Fp8GemmV3Small>(p, stream);
  } else {
    launch_fp8_gemm_v3<Fp8GemmV3Large>(p, stream);
  }
}

}  // namespace moekit
