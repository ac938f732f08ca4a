// quantize on CUDA. See native/ops/fp8/quantize.h for the math and layouts.
//   v1: ROW_128: a warp per 1x128 block (coalesced 32-element steps, shuffle amax);
//       TILE_128: a block per 128x128 tile (block-wide amax, then a second pass over the
//       tile, which is L1/L2 resident); TENSOR: amax kernel + encode kernel. Any sm >= 80.
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "../common/check.h"
#include "../common/launch.cuh"
#include "../common/grid.h"
#include "../common/reduce.cuh"
#include "../common/row128_quantize.cuh"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"
#include "../../native/ops/fp8/quantize.h"
#include "../../native/ops/fp8/scale_math.h"

namespace moekit {

namespace {

constexpr int ROW_WARPS_PER_BLOCK = 8;
constexpr int TILE_THREADS = 256;
constexpr int TENSOR_THREADS = 256;
constexpr int ELEMS_PER_LANE = ROW128_ELEMS_PER_LANE;  // 4 coalesced steps of 32

static_assert(TILE_THREADS % WARP_SIZE == 0, "tile blocks are whole warps");

// One warp quantizes one 1x128 block: lanes take elements lane, lane+32, ...
__global__ void quantize_row128_v1_kernel(const QuantizeParams p) {
  const int64_t kblocks = ceil_div(p.cols, FP8_SCALE_BLOCK);
  const int64_t total_blocks = p.batch * p.rows * kblocks;
  const int lane = threadIdx.x % WARP_SIZE;
  const int64_t warps_per_block = blockDim.x / WARP_SIZE;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * warps_per_block;
  for (int64_t blk = static_cast<int64_t>(blockIdx.x) * warps_per_block + threadIdx.x / WARP_SIZE; blk < total_blocks; blk += warps) {
    const int64_t row = blk / kblocks;
    const int64_t col0 = (blk % kblocks) * FP8_SCALE_BLOCK;
    const int64_t base = row * p.cols;
    float v[ELEMS_PER_LANE];
#pragma unroll
    for (int j = 0; j < ELEMS_PER_LANE; ++j) {
      const int64_t col = col0 + j * WARP_SIZE + lane;
      v[j] = col < p.cols ? load_as_float(p.x, p.x_dtype, base + col) : 0.0f;
    }
    quantize_row128_block(v, col0, p.cols, p.values + base, p.scales + blk, p.format, p.ue8m0, lane);
  }
}

// One block quantizes one 128x128 tile of one matrix of the batch.
__global__ void quantize_tile128_v1_kernel(const QuantizeParams p) {
  __shared__ float warp_amax[TILE_THREADS / WARP_SIZE];
  const int64_t kblocks = ceil_div(p.cols, FP8_SCALE_BLOCK);
  const int64_t rblocks = ceil_div(p.rows, FP8_SCALE_BLOCK);
  const int64_t tile = blockIdx.x;
  const int64_t b = tile / (rblocks * kblocks);
  const int64_t r0 = ((tile / kblocks) % rblocks) * FP8_SCALE_BLOCK;
  const int64_t c0 = (tile % kblocks) * FP8_SCALE_BLOCK;
  const int64_t tile_rows = min(FP8_SCALE_BLOCK, p.rows - r0);
  const int64_t tile_cols = min(FP8_SCALE_BLOCK, p.cols - c0);
  const int64_t elems = tile_rows * FP8_SCALE_BLOCK;  // row-major over the tile's 128 columns

  float amax = 0.0f;
  for (int64_t e = threadIdx.x; e < elems; e += blockDim.x) {
    const int64_t r = e / FP8_SCALE_BLOCK;
    const int64_t c = e % FP8_SCALE_BLOCK;
    if (c < tile_cols) amax = fmaxf(amax, fabsf(load_as_float(p.x, p.x_dtype, (b * p.rows + r0 + r) * p.cols + c0 + c)));
  }
  const float scale = fp8_block_scale(block_max<TILE_THREADS>(amax, warp_amax), p.format, p.ue8m0);
  const float inv = fp8_inverse_scale(scale);
  if (threadIdx.x == 0) p.scales[tile] = scale;
  for (int64_t e = threadIdx.x; e < elems; e += blockDim.x) {
    const int64_t r = e / FP8_SCALE_BLOCK;
    const int64_t c = e % FP8_SCALE_BLOCK;
    if (c < tile_cols) {
      const int64_t i = (b * p.rows + r0 + r) * p.cols + c0 + c;
      p.values[i] = encode_fp8(load_as_float(p.x, p.x_dtype, i) * inv, p.format);
    }
  }
}

// |x| maxima of non-negative floats order like their bit patterns, so an
// integer atomicMax on the bits gives the float maximum.
__global__ void tensor_amax_v1_kernel(const QuantizeParams p, int64_t total) {
  float amax = 0.0f;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    amax = fmaxf(amax, fabsf(load_as_float(p.x, p.x_dtype, i)));
  }
  amax = warp_max(amax);
  if (threadIdx.x % WARP_SIZE == 0) atomicMax(reinterpret_cast<unsigned int*>(p.amax_scratch), __float_as_uint(amax));
}

__global__ void tensor_encode_v1_kernel(const QuantizeParams p, int64_t total) {
  const float scale = fp8_block_scale(*p.amax_scratch, p.format, p.ue8m0);
  const float inv = fp8_inverse_scale(scale);
  if (blockIdx.x == 0 && threadIdx.x == 0) p.scales[0] = scale;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    p.values[i] = encode_fp8(load_as_float(p.x, p.x_dtype, i) * inv, p.format);
  }
}

}  // namespace

void quantize_v1(const QuantizeParams& p, cudaStream_t stream) {
  const int64_t total = p.batch * p.rows * p.cols;
  if (total == 0) {
    if (p.block == QuantBlock::TENSOR) {
      // Empty tensor: the scale of an all-zero block (the amax floor).
      const float scale = fp8_block_scale(0.0f, p.format, p.ue8m0);
      MOEKIT_CUDA_CHECK(cudaMemcpyAsync(p.scales, &scale, sizeof scale, cudaMemcpyHostToDevice, stream));
      MOEKIT_CUDA_CHECK(cudaStreamSynchronize(stream));  // `scale` is a stack value
    }
    return;
  }
  switch (p.block) {
    case QuantBlock::ROW_128: {
      const int64_t blocks = p.batch * p.rows * ceil_div(p.cols, FP8_SCALE_BLOCK);
      launch_kernel("quantize_row128_v1_kernel", quantize_row128_v1_kernel, grid_stride_blocks(blocks, ROW_WARPS_PER_BLOCK), ROW_WARPS_PER_BLOCK * WARP_SIZE, 0, stream, p);
      break;
    }
    case QuantBlock::TILE_128: {
      const int64_t tiles = p.batch * ceil_div(p.rows, FP8_SCALE_BLOCK) * ceil_div(p.cols, FP8_SCALE_BLOCK);
      if (tiles > 0x7FFFFFFF) throw_unsupported("quantize: too many 128x128 tiles for one launch");
      launch_kernel("quantize_tile128_v1_kernel", quantize_tile128_v1_kernel, static_cast<unsigned>(tiles), TILE_THREADS, 0, stream, p);
      break;
    }
    case QuantBlock::TENSOR: {
      MOEKIT_CUDA_CHECK(cudaMemsetAsync(p.amax_scratch, 0, sizeof(float), stream));
      launch_kernel("tensor_amax_v1_kernel", tensor_amax_v1_kernel, grid_stride_blocks(total, TENSOR_THREADS * 8), TENSOR_THREADS, 0, stream, p, total);
      launch_kernel("tensor_encode_v1_kernel", tensor_encode_v1_kernel, grid_stride_blocks(total, TENSOR_THREADS * 4), TENSOR_THREADS, 0, stream, p, total);
      break;
    }
  }
}

}  // namespace moekit
