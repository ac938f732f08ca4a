// gemm v1 on CUDA: the simple portable kernel (see gemm.h). A 64x64 output
// tile per block of 16x16 threads, each thread 4x4 outputs in f32 registers
// (simt_tile.cuh); K advances 16 at a time through shared memory, stored
// k-major so the inner loop reads contiguous rows. Any dtype, any shape,
// any sm >= 80. With an expert layout in the params (moe.groupedGemm) the
// grouped tile scheduler picks each block's tile; the kernel is the same.
#include <cuda_runtime.h>

#include "../../native/common/float_convert.h"
#include "../common/simt_tile.cuh"
#include "../../native/ops/gemm/gemm.h"

namespace moekit {

namespace {

using namespace simt_gemm_config;

constexpr int BLOCK_K = 16;

template <typename Scheduler>
__global__ void __launch_bounds__(NUM_THREADS) gemm_v1_kernel(const GemmParams p) {
  __shared__ float a_tile[BLOCK_K][BLOCK_M + SIMT_TILE_PAD];
  __shared__ float b_tile[BLOCK_K][BLOCK_N + SIMT_TILE_PAD];
  const GemmTile tile = Scheduler(p).tile(blockIdx.x);
  if (tile.empty()) return;
  const SimtThread t = simt_thread();
  const auto load_a = [&](int64_t i) { return load_as_float(p.a, p.ab_dtype, i); };
  const auto load_b = [&](int64_t i) { return load_as_float(p.b, p.ab_dtype, i); };
  float acc[THREAD_M][THREAD_N] = {};

  for (int64_t k0 = 0; k0 < p.k; k0 += BLOCK_K) {
    simt_stage_tiles(a_tile, b_tile, tile, p.n, p.k, k0, load_a, load_b);
    __syncthreads();
    simt_tile_fma(a_tile, b_tile, t.tx, t.ty, acc);
    __syncthreads();
  }
  simt_tile_store(acc, p.c, p.c_dtype, tile, p.n, p.row_scale, t);
}

}  // namespace

const char* gemm_v1_unsupported(const GemmParams& p) { return simt_gemm_unsupported(p); }

void gemm_v1(const GemmParams& p, cudaStream_t stream) {
  launch_simt_gemm("gemm_v1_kernel", gemm_v1_kernel<NormalScheduler>, gemm_v1_kernel<GroupedScheduler>, p, stream);
}

}  // namespace moekit
