// The MLA baselines' steps on CUDA. See native/ops/baselines/mla_steps.h.
//   v1: gather and assemble are grid-stride copies in 16-byte pieces (2-byte
//       ones when a pointer is less aligned); softmax is a block of 256
//       threads per row, three passes over the f32 scores (max, sum,
//       write). Any sm.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../common/check.h"
#include "../common/launch.cuh"
#include "../common/reduce.cuh"
#include "../common/warp.h"
#include "../../native/common/float_convert.h"
#include "../../native/common/math.h"
#include "../../native/ops/baselines/mla_steps.h"

namespace moekit {

namespace {

constexpr int COPY_THREADS = 256;
constexpr int64_t COPY_MAX_BLOCKS = 8192;
constexpr int SOFTMAX_THREADS = 256;
constexpr int MLA_NOPE_COLS = 128;
constexpr int MLA_ROPE_COLS = 64;
constexpr int MLA_QK_COLS = MLA_NOPE_COLS + MLA_ROPE_COLS;
constexpr int MLA_KV_COLS = 256;

// A piece of a copy: 8 bf16 (uint4) or 1 (uint16_t).
template <typename Piece>
constexpr int64_t PER_PIECE = static_cast<int64_t>(sizeof(Piece) / sizeof(uint16_t));

template <typename Piece>
__global__ void mla_gather_v1_kernel(const MlaGatherParams p) {
  constexpr int64_t ROW_PIECES = MLA_ROW / PER_PIECE<Piece>;
  const int64_t total = p.count * p.max_len * ROW_PIECES;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t row = i / ROW_PIECES;  // over this launch's entries
    const int64_t piece = i - row * ROW_PIECES;
    const int64_t e = row / p.max_len;
    const int64_t j = row - e * p.max_len;
    const int64_t b = p.first + e;
    Piece* dst = reinterpret_cast<Piece*>(p.out + (b * p.max_len + j) * MLA_ROW) + piece;
    Piece v;
    if (j >= p.lengths[e]) {
      v = Piece{};
    } else {
      const int64_t page = p.block_table[b * p.max_pages + j / p.page_size];
      if (page < 0 || page >= p.blocks) {
        const uint16_t nan_bits = bf16_from_float(__int_as_float(0x7FC00000));
        uint16_t lanes[PER_PIECE<Piece>];
        for (int64_t c = 0; c < PER_PIECE<Piece>; ++c) lanes[c] = nan_bits;
        memcpy(&v, lanes, sizeof(v));
      } else {
        v = reinterpret_cast<const Piece*>(p.cache + (page * p.page_size + j % p.page_size) * MLA_ROW)[piece];
      }
    }
    *dst = v;
  }
}

template <typename Piece>
__global__ void mla_assemble_v1_kernel(const MlaAssembleParams p) {
  constexpr int64_t NOPE_PIECES = MLA_NOPE_COLS / PER_PIECE<Piece>;
  constexpr int64_t ROW_PIECES = MLA_QK_COLS / PER_PIECE<Piece>;
  const int64_t total = p.tokens * p.heads * ROW_PIECES;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t row = i / ROW_PIECES;  // t * heads + h
    const int64_t piece = i - row * ROW_PIECES;
    const int64_t t = row / p.heads;
    const Piece v = piece < NOPE_PIECES ? reinterpret_cast<const Piece*>(p.kv + row * MLA_KV_COLS)[piece]
                                        : reinterpret_cast<const Piece*>(p.k_rope + t * MLA_ROPE_COLS)[piece - NOPE_PIECES];
    reinterpret_cast<Piece*>(p.k + row * MLA_QK_COLS)[piece] = v;
  }
}

// One block per row of scores.
__global__ void __launch_bounds__(SOFTMAX_THREADS) mla_softmax_v1_kernel(const MlaSoftmaxParams p) {
  // One scratch per reduction: the second may not overwrite what the first's readers still read.
  __shared__ float max_scratch[SOFTMAX_THREADS / WARP_SIZE];
  __shared__ float sum_scratch[SOFTMAX_THREADS / WARP_SIZE];
  const int64_t rows = p.heads * p.queries;
  const int64_t index = blockIdx.x;  // e * rows + r
  const int64_t e = index / rows;
  const int64_t r = index - e * rows;
  const int64_t h = p.head_major ? r / p.queries : r % p.heads;
  const int64_t s = p.head_major ? r % p.queries : r / p.heads;
  const int64_t limit = mla_key_limit(p.lengths[e], p.queries, s, p.causal);
  const float* x = p.scores + index * p.cols;
  uint16_t* out = p.probs + index * p.cols;
  float m = -__int_as_float(0x7F800000);
  for (int64_t j = threadIdx.x; j < limit; j += SOFTMAX_THREADS) m = fmaxf(m, p.scale * x[j]);
  m = block_max<SOFTMAX_THREADS>(m, max_scratch);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < limit; j += SOFTMAX_THREADS) sum += expf(p.scale * x[j] - m);
  sum = block_sum<SOFTMAX_THREADS>(sum, sum_scratch);
  for (int64_t j = threadIdx.x; j < p.cols; j += SOFTMAX_THREADS) out[j] = j < limit ? bf16_from_float(expf(p.scale * x[j] - m) / sum) : 0;
  if (threadIdx.x == 0) {
    p.lse[e * p.lse_entry_stride + h * p.lse_head_stride + s] = limit == 0 ? __int_as_float(0x7F800000) : m + logf(sum);
  }
}

unsigned copy_blocks(int64_t pieces) { return static_cast<unsigned>(std::min<int64_t>(ceil_div<int64_t>(pieces, COPY_THREADS), COPY_MAX_BLOCKS)); }

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace

void mla_gather_v1(const MlaGatherParams& p, void* stream) {
  if (p.count <= 0 || p.max_len <= 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  if (aligned16(p.cache) && aligned16(p.out)) {
    launch_kernel("mla_gather_v1_kernel", mla_gather_v1_kernel<uint4>, copy_blocks(p.count * p.max_len * (MLA_ROW / 8)), COPY_THREADS, 0, s, p);
  } else {
    launch_kernel("mla_gather_v1_kernel", mla_gather_v1_kernel<uint16_t>, copy_blocks(p.count * p.max_len * MLA_ROW), COPY_THREADS, 0, s, p);
  }
}

void mla_assemble_v1(const MlaAssembleParams& p, void* stream) {
  if (p.tokens <= 0 || p.heads <= 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  if (aligned16(p.kv) && aligned16(p.k_rope) && aligned16(p.k)) {
    launch_kernel("mla_assemble_v1_kernel", mla_assemble_v1_kernel<uint4>, copy_blocks(p.tokens * p.heads * (MLA_QK_COLS / 8)), COPY_THREADS, 0, s, p);
  } else {
    launch_kernel("mla_assemble_v1_kernel", mla_assemble_v1_kernel<uint16_t>, copy_blocks(p.tokens * p.heads * MLA_QK_COLS), COPY_THREADS, 0, s, p);
  }
}

void mla_softmax_v1(const MlaSoftmaxParams& p, void* stream) {
  const int64_t blocks = p.count * p.heads * p.queries;
  if (blocks <= 0) return;
  // The host splits a call so that one launch stays within grid.x's limit.
  launch_kernel("mla_softmax_v1_kernel", mla_softmax_v1_kernel, static_cast<unsigned>(blocks), SOFTMAX_THREADS, 0, static_cast<cudaStream_t>(stream), p);
}

}  // namespace moekit
