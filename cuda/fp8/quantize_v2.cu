// quantize v2 on CUDA: the memory-bound version (see quantize.h for the math).
// Every thread moves 16 bytes per load and keeps its elements in registers,
// so x is read once and values are written once:
//   ROW_128:  a 1x128 block is spread over 128 / (16 / sizeof(T)) lanes (16 for
//             bf16/f16, 32 for f32); each warp loads UNROLL groups of blocks
//             before reducing, for more bytes in flight.
//   TILE_128: a 256-thread block holds its whole 128x128 tile in registers
//             (as raw vectors), reduces amax once and encodes from registers.
//   TENSOR:   as v1 (two passes are inherent).
// Needs rows of 16-byte multiples (cols * sizeof(T) % 16 == 0). Any sm >= 80.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "../common/check.h"
#include "../common/launch.cuh"
#include "../common/grid.h"
#include "../common/reduce.cuh"
#include "../../native/common/math.h"
#include "../../native/ops/fp8/quantize.h"
#include "../../native/ops/fp8/scale_math.h"

namespace moekit {

namespace {

constexpr int VECTOR_BYTES = 16;
constexpr int ROW_THREADS = 256;
constexpr int ROW_UNROLL = 4;
constexpr int TILE_THREADS = 256;

template <typename T>
struct Vec {
  static constexpr int ELEMS = VECTOR_BYTES / static_cast<int>(sizeof(T));  // elements per 16-byte load
};

__device__ __forceinline__ void unpack(const uint4& raw, float (&v)[4], const float*) {
  v[0] = __uint_as_float(raw.x);
  v[1] = __uint_as_float(raw.y);
  v[2] = __uint_as_float(raw.z);
  v[3] = __uint_as_float(raw.w);
}

__device__ __forceinline__ void unpack(const uint4& raw, float (&v)[8], const __nv_bfloat16*) {
  const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    v[2 * i] = __uint_as_float(w[i] << 16);
    v[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
  }
}

__device__ __forceinline__ void unpack(const uint4& raw, float (&v)[8], const __half*) {
  const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    __half2 h;
    memcpy(&h, &w[i], sizeof h);
    const float2 f = __half22float2(h);
    v[2 * i] = f.x;
    v[2 * i + 1] = f.y;
  }
}

// Encodes N values (N = 4 or 8) times inv (= 1 / scale); returns them packed little-endian.
template <int N>
__device__ __forceinline__ void encode_pack(const float (&v)[N], float inv, DType format, uint32_t (&out)[N / 4]) {
  const __nv_fp8_interpretation_t fmt = format == DType::E4M3 ? __NV_E4M3 : __NV_E5M2;
#pragma unroll
  for (int i = 0; i < N / 4; ++i) {
    const __nv_fp8x2_storage_t lo = __nv_cvt_float2_to_fp8x2(make_float2(canonical_nan(v[4 * i] * inv), canonical_nan(v[4 * i + 1] * inv)), __NV_SATFINITE, fmt);
    const __nv_fp8x2_storage_t hi = __nv_cvt_float2_to_fp8x2(make_float2(canonical_nan(v[4 * i + 2] * inv), canonical_nan(v[4 * i + 3] * inv)), __NV_SATFINITE, fmt);
    out[i] = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
  }
}

template <int N>
__device__ __forceinline__ void store_codes(uint8_t* dst, const uint32_t (&packed)[N / 4]) {
  if constexpr (N == 8) {
    *reinterpret_cast<uint2*>(dst) = make_uint2(packed[0], packed[1]);
  } else {
    *reinterpret_cast<uint32_t*>(dst) = packed[0];
  }
}

template <typename T>
__global__ void __launch_bounds__(ROW_THREADS, 2) quantize_row128_v2_kernel(const QuantizeParams p) {
  constexpr int ELEMS = Vec<T>::ELEMS;
  constexpr int LANES_PER_BLOCK = FP8_SCALE_BLOCK / ELEMS;
  constexpr int BLOCKS_PER_WARP = WARP_SIZE / LANES_PER_BLOCK;
  static_assert(FP8_SCALE_BLOCK % ELEMS == 0 && WARP_SIZE % LANES_PER_BLOCK == 0, "a 1x128 block must map onto whole lanes of a warp");
  const T* x = static_cast<const T*>(p.x);
  const int64_t kblocks = ceil_div(p.cols, FP8_SCALE_BLOCK);
  const int64_t total_blocks = p.batch * p.rows * kblocks;
  const int lane = threadIdx.x % WARP_SIZE;
  const int sub = lane / LANES_PER_BLOCK;  // which block of the warp's group
  const int part = lane % LANES_PER_BLOCK;  // which 16 bytes of that block
  const int64_t warp_id = static_cast<int64_t>(blockIdx.x) * (ROW_THREADS / WARP_SIZE) + threadIdx.x / WARP_SIZE;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (ROW_THREADS / WARP_SIZE);
  const int64_t per_round = warps * ROW_UNROLL * BLOCKS_PER_WARP;

  for (int64_t round0 = warp_id * ROW_UNROLL * BLOCKS_PER_WARP; round0 < total_blocks; round0 += per_round) {
    float v[ROW_UNROLL][ELEMS];
    int64_t offset[ROW_UNROLL];
    bool live[ROW_UNROLL];
    // Issue every load of the round before using any of them.
#pragma unroll
    for (int u = 0; u < ROW_UNROLL; ++u) {
      const int64_t blk = round0 + u * BLOCKS_PER_WARP + sub;
      const int64_t row = blk / kblocks;
      const int64_t col = (blk % kblocks) * FP8_SCALE_BLOCK + static_cast<int64_t>(part) * ELEMS;
      live[u] = blk < total_blocks && col < p.cols;  // cols % ELEMS == 0: a vector is all in or all out
      offset[u] = row * p.cols + col;
      uint4 raw = make_uint4(0, 0, 0, 0);
      if (live[u]) raw = __ldg(reinterpret_cast<const uint4*>(x + offset[u]));
      unpack(raw, v[u], static_cast<const T*>(nullptr));
    }
#pragma unroll
    for (int u = 0; u < ROW_UNROLL; ++u) {
      float amax = 0.0f;
#pragma unroll
      for (int i = 0; i < ELEMS; ++i) amax = fmaxf(amax, fabsf(v[u][i]));
      const float scale = fp8_block_scale(warp_max<LANES_PER_BLOCK>(amax), p.format, p.ue8m0);
      const int64_t blk = round0 + u * BLOCKS_PER_WARP + sub;
      if (part == 0 && blk < total_blocks) p.scales[blk] = scale;
      if (live[u]) {
        uint32_t packed[ELEMS / 4];
        encode_pack<ELEMS>(v[u], fp8_inverse_scale(scale), p.format, packed);
        store_codes<ELEMS>(p.values + offset[u], packed);
      }
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(TILE_THREADS, 2) quantize_tile128_v2_kernel(const QuantizeParams p) {
  constexpr int ELEMS = Vec<T>::ELEMS;
  constexpr int THREADS_PER_ROW = FP8_SCALE_BLOCK / ELEMS;
  constexpr int ROWS_PER_PASS = TILE_THREADS / THREADS_PER_ROW;
  constexpr int PASSES = FP8_SCALE_BLOCK / ROWS_PER_PASS;
  static_assert(TILE_THREADS % THREADS_PER_ROW == 0 && FP8_SCALE_BLOCK % ROWS_PER_PASS == 0, "a tile must map onto whole passes");
  __shared__ float warp_amax[TILE_THREADS / WARP_SIZE];
  const T* x = static_cast<const T*>(p.x);
  const int64_t kblocks = ceil_div(p.cols, FP8_SCALE_BLOCK);
  const int64_t rblocks = ceil_div(p.rows, FP8_SCALE_BLOCK);
  const int64_t tile = blockIdx.x;
  const int64_t b = tile / (rblocks * kblocks);
  const int64_t r0 = ((tile / kblocks) % rblocks) * FP8_SCALE_BLOCK;
  const int64_t col = (tile % kblocks) * FP8_SCALE_BLOCK + static_cast<int64_t>(threadIdx.x % THREADS_PER_ROW) * ELEMS;
  const int row_in_pass = threadIdx.x / THREADS_PER_ROW;

  // Raw 16-byte vectors stay in registers (4 per pass, 32 in all); they are
  // unpacked once for amax and again for encoding, which is cheaper than
  // holding 64 floats.
  uint4 raw[PASSES];
  float amax = 0.0f;
#pragma unroll
  for (int pass = 0; pass < PASSES; ++pass) {
    const int64_t r = r0 + pass * ROWS_PER_PASS + row_in_pass;
    raw[pass] = make_uint4(0, 0, 0, 0);
    if (r < p.rows && col < p.cols) raw[pass] = __ldg(reinterpret_cast<const uint4*>(x + (b * p.rows + r) * p.cols + col));
  }
#pragma unroll
  for (int pass = 0; pass < PASSES; ++pass) {
    float v[ELEMS];
    unpack(raw[pass], v, static_cast<const T*>(nullptr));
#pragma unroll
    for (int i = 0; i < ELEMS; ++i) amax = fmaxf(amax, fabsf(v[i]));
  }
  const float scale = fp8_block_scale(block_max<TILE_THREADS>(amax, warp_amax), p.format, p.ue8m0);
  const float inv = fp8_inverse_scale(scale);
  if (threadIdx.x == 0) p.scales[tile] = scale;
#pragma unroll
  for (int pass = 0; pass < PASSES; ++pass) {
    const int64_t r = r0 + pass * ROWS_PER_PASS + row_in_pass;
    if (r < p.rows && col < p.cols) {
      float v[ELEMS];
      unpack(raw[pass], v, static_cast<const T*>(nullptr));
      uint32_t packed[ELEMS / 4];
      encode_pack<ELEMS>(v, inv, p.format, packed);
      store_codes<ELEMS>(p.values + (b * p.rows + r) * p.cols + col, packed);
    }
  }
}


template <typename T>
void launch_v2(const QuantizeParams& p, cudaStream_t stream) {
  if (p.block == QuantBlock::ROW_128) {
    constexpr int64_t blocks_per_cta = (ROW_THREADS / WARP_SIZE) * ROW_UNROLL * (WARP_SIZE / (FP8_SCALE_BLOCK / Vec<T>::ELEMS));
    const int64_t blocks = p.batch * p.rows * ceil_div(p.cols, FP8_SCALE_BLOCK);
    launch_kernel("quantize_row128_v2_kernel", quantize_row128_v2_kernel<T>, grid_stride_blocks(blocks, blocks_per_cta), ROW_THREADS, 0, stream, p);
  } else {
    const int64_t tiles = p.batch * ceil_div(p.rows, FP8_SCALE_BLOCK) * ceil_div(p.cols, FP8_SCALE_BLOCK);
    launch_kernel("quantize_tile128_v2_kernel", quantize_tile128_v2_kernel<T>, static_cast<unsigned>(tiles), TILE_THREADS, 0, stream, p);
  }
}

}  // namespace

const char* quantize_v2_unsupported(const QuantizeParams& p) {
  if (p.block == QuantBlock::TENSOR) return nullptr;
  if ((p.cols * dtype_size(p.x_dtype)) % VECTOR_BYTES != 0) return "rows must be a multiple of 16 bytes (8 bf16/f16 or 4 f32 elements)";
  if (p.block == QuantBlock::TILE_128 && p.batch * ceil_div(p.rows, FP8_SCALE_BLOCK) * ceil_div(p.cols, FP8_SCALE_BLOCK) > 0x7FFFFFFF) {
    return "too many 128x128 tiles for one launch";
  }
  return nullptr;
}

void quantize_v2(const QuantizeParams& p, cudaStream_t stream) {
  if (p.block == QuantBlock::TENSOR || p.batch * p.rows * p.cols == 0) {
    quantize_v1(p, stream);
    return;
  }
  switch (p.x_dtype) {
    case DType::F32: launch_v2<float>(p, stream); break;
    case DType::BF16: launch_v2<__nv_bfloat16>(p, stream); break;
    case DType::F16: launch_v2<__half>(p, stream); break;
    default: throw_unsupported("quantize: v2 takes f32, bf16 or f16 input");
  }
}

}  // namespace moekit
