// The tiling of the simple SIMT GEMM kernels (gemm v1, fp8Gemm v1): a
// BLOCK_M x BLOCK_N output tile per block of THREADS_Y x THREADS_X threads,
// each thread owning THREAD_M x THREAD_N outputs in f32 registers; K is
// staged k-major in shared memory, where the inner loop reads contiguous
// rows. The kernels differ only in how K is split and how an element is
// decoded. A 1-D grid, one block per tile of the tile scheduler
// (tile_scheduler.h): the normal one, or the grouped one over MoE experts
// when the params carry an expert layout.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "check.h"
#include "gated_tile.h"
#include "launch.cuh"
#include "tile_scheduler.h"
#include "../../native/common/dtype.h"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"

namespace moekit {
namespace simt_gemm_config {

constexpr int BLOCK_M = 64;
constexpr int BLOCK_N = 64;
constexpr int THREADS_X = 16;
constexpr int THREADS_Y = 16;
constexpr int NUM_THREADS = THREADS_X * THREADS_Y;
constexpr int THREAD_M = BLOCK_M / THREADS_Y;
constexpr int THREAD_N = BLOCK_N / THREADS_X;
constexpr int GROUP_M = 8;  // tile rows walked together (tile_raster.h)
constexpr int GATE_WIDTH = THREAD_N / 2;  // gated tiles: gate and up columns alternate in pairs (gated_tile.h)

static_assert(BLOCK_M % THREADS_Y == 0 && BLOCK_N % THREADS_X == 0, "micro-tiles split the block tile evenly");

using NormalScheduler = NormalTileScheduler<BLOCK_M, BLOCK_N, GROUP_M>;
using GroupedScheduler = GroupedTileScheduler<BLOCK_M, BLOCK_N, GROUP_M>;

}  // namespace simt_gemm_config

// The blocks of p's grid: one per tile of its scheduler.
template <typename Params>
int64_t simt_gemm_tiles(const Params& p) {
  using namespace simt_gemm_config;
  return p.groups.layout == GroupLayout::None ? NormalScheduler(p).num_tiles() : GroupedScheduler(p).num_tiles();
}

// Why p cannot be launched on this grid (nullptr: it can).
template <typename Params>
const char* simt_gemm_unsupported(const Params& p) {
  return simt_gemm_tiles(p) > INT32_MAX ? "m and n must give at most 2^31 - 1 tiles of 64x64" : nullptr;
}

// Launches kernel<Scheduler> over p's tiles, the grouped instantiation for
// an expert layout; nothing for an empty output.
template <typename Params>
void launch_simt_gemm(const char* name, void (*normal)(Params), void (*grouped)(Params), const Params& p, cudaStream_t stream) {
  using namespace simt_gemm_config;
  const int64_t tiles = simt_gemm_tiles(p);
  if (tiles == 0 || p.n == 0) return;
  const auto kernel = p.groups.layout == GroupLayout::None ? normal : grouped;
  launch_kernel(name, kernel, static_cast<unsigned>(tiles), NUM_THREADS, 0, stream, p);
}

// This thread's micro-tile column and row inside the block.
struct SimtThread {
  int tx;
  int ty;
};

__device__ __forceinline__ SimtThread simt_thread() {
  using namespace simt_gemm_config;
  return SimtThread{static_cast<int>(threadIdx.x % THREADS_X), static_cast<int>(threadIdx.x / THREADS_X)};
}

// Shared tiles are stored k-major with rows padded by one float: the loads
// write tile[kk][r] with kk varying fastest across a warp, and an unpadded
// row of 64 floats would put those writes in one bank.
constexpr int SIMT_TILE_PAD = 1;

// Stages K [k0, k0 + BK) of the tile's rows of A and B into a_tile and
// b_tile, k-major, as f32: rows [a_row0, a_row0 + BLOCK_M) of the row-major
// A and the tile's BLOCK_N rows of B (tile_b_row: consecutive, or gate and
// up rows for a gated tile), both with row length k; load_a(i) / load_b(i)
// decode the element at flat index i; rows past the tile's problem and K
// past k are 0. Consecutive threads read consecutive k of a row: coalesced
// along K. `n`: C's columns.
template <int BK, int AW, int BW, typename LoadA, typename LoadB>
__device__ __forceinline__ void simt_stage_tiles(float (&a_tile)[BK][AW], float (&b_tile)[BK][BW], const GemmTile& tile, int64_t n,
                                                 int64_t k, int64_t k0, LoadA load_a, LoadB load_b) {
  using namespace simt_gemm_config;
  static_assert(BLOCK_M == BLOCK_N, "one loop stages the A and B tiles together");
  static_assert(BLOCK_M * BK % NUM_THREADS == 0, "tile loads split evenly over the threads");
  for (int e = threadIdx.x; e < BLOCK_M * BK; e += NUM_THREADS) {
    const int r = e / BK;
    const int kk = e % BK;
    const int64_t col = k0 + kk;
    const int64_t a_row = tile.a_row0 + r;
    a_tile[kk][r] = a_row < tile.a_rows && col < k ? load_a(a_row * k + col) : 0.0f;
    const int64_t b_row = tile_b_row<simt_gemm_config::GATE_WIDTH>(tile, n, r);
    b_tile[kk][r] = b_row >= 0 && col < k ? load_b(b_row * k + col) : 0.0f;
  }
}

// acc[i][j] += sum over kk of a_tile[kk][ty*TM + i] * b_tile[kk][tx*TN + j].
// AW, BW: the padded row widths of the tiles.
template <int TM, int TN, int BK, int AW, int BW>
__device__ __forceinline__ void simt_tile_fma(const float (&a_tile)[BK][AW], const float (&b_tile)[BK][BW], int tx, int ty,
                                              float (&acc)[TM][TN]) {
#pragma unroll
  for (int kk = 0; kk < BK; ++kk) {
    float a[TM];
    float b[TN];
#pragma unroll
    for (int i = 0; i < TM; ++i) a[i] = a_tile[kk][ty * TM + i];
#pragma unroll
    for (int j = 0; j < TN; ++j) b[j] = b_tile[kk][tx * TN + j];
#pragma unroll
    for (int i = 0; i < TM; ++i) {
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }
}

// Writes the thread's outputs of `tile` into the row-major [rows, n] C of
// `dtype`, skipping those outside the tile's problem; each row times
// row_scale[row] first when row_scale is not null. A gated tile's thread
// holds TN / 2 gate columns and their up columns: it writes silu(gate) * up.
template <int TM, int TN>
__device__ __forceinline__ void simt_tile_store(const float (&acc)[TM][TN], void* c, DType dtype, const GemmTile& tile, int64_t n,
                                                const float* row_scale, SimtThread t) {
  static_assert(TN == 2 * simt_gemm_config::GATE_WIDTH, "a thread holds one gate block and its up block");
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t row = tile.a_row0 + t.ty * TM + i;
    if (row >= tile.a_rows) continue;
    const float s = row_scale ? row_scale[row] : 1.0f;
    if (tile.up_offset != 0) {
#pragma unroll
      for (int j = 0; j < TN / 2; ++j) {
        const int64_t col = tile.c_col0 + gated_column(t.tx * TN + j, TN / 2);
        const float v = silu_times(acc[i][j], acc[i][j + TN / 2]);
        if (col < n) store_from_double(c, dtype, row * n + col, row_scale ? v * s : v);
      }
      continue;
    }
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t col = tile.c_col0 + t.tx * TN + j;
      if (col < n) store_from_double(c, dtype, row * n + col, row_scale ? acc[i][j] * s : acc[i][j]);
    }
  }
}

}  // namespace moekit
