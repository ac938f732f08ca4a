// moe.permute on CUDA. See native/ops/moe/permute.h for the layout and the
// limits; the CPU twin is native/cpu/moe/permute.cc, the tests
// tests/moe/permute.test.ts, the bench bench/moe/permute.bench.ts.
//   v1: one block of PERMUTE_THREADS, one kernel, no host synchronisation.
//       It fills row_ids with -1, counts the picks per expert with shared
//       integer atomics (exact), has thread 0 sum the padded counts into
//       offsets, then walks the picks in chunks of PERMUTE_THREADS in order:
//       a thread ranks its pick among the earlier picks of the chunk with
//       the same expert (a scan of shared memory), takes row
//       cursor[e] + rank, and the chunk's last pick of each expert advances
//       cursor[e]. The order is exactly the CPU twin's. E <= 512 keeps the
//       per-expert arrays in shared memory. Any sm >= 80.
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/launch.cuh"
#include "../../native/ops/moe/permute.h"

namespace moekit {

namespace {

constexpr int PERMUTE_THREADS = 256;

__global__ void __launch_bounds__(PERMUTE_THREADS) permute_v1_kernel(const PermuteParams p) {
  __shared__ int32_t count[MAX_PERMUTE_EXPERTS];
  __shared__ int32_t cursor[MAX_PERMUTE_EXPERTS];
  __shared__ int32_t chunk[PERMUTE_THREADS];
  const int E = p.experts;
  const int64_t picks = p.tokens * p.top_k;
  for (int64_t r = threadIdx.x; r < p.rows; r += PERMUTE_THREADS) p.row_ids[r] = -1;
  for (int e = threadIdx.x; e < E; e += PERMUTE_THREADS) count[e] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < picks; i += PERMUTE_THREADS) {
    const int32_t e = p.ids[i];
    if (e >= 0 && e < E) atomicAdd(count + e, 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t offset = 0;
    for (int e = 0; e < E; ++e) {
      p.offsets[e] = offset;
      cursor[e] = offset;
      offset += (count[e] + p.align - 1) / p.align * p.align;
    }
    p.offsets[E] = offset;
  }
  for (int e = threadIdx.x; e < E; e += PERMUTE_THREADS) p.counts[e] = count[e];
  __syncthreads();
  for (int64_t base = 0; base < picks; base += PERMUTE_THREADS) {
    const int64_t i = base + threadIdx.x;
    const int n = picks - base < PERMUTE_THREADS ? static_cast<int>(picks - base) : PERMUTE_THREADS;
    int32_t e = -1;
    if (i < picks) {
      e = p.ids[i];
      if (e < 0 || e >= E) e = -1;
    }
    chunk[threadIdx.x] = e;
    __syncthreads();
    int rank = 0;
    bool last = false;
    if (i < picks) {
      if (e < 0) {
        p.inverse[i] = -1;
      } else {
        last = true;
        for (int j = 0; j < n; ++j) {
          if (chunk[j] != e) continue;
          if (j < static_cast<int>(threadIdx.x)) ++rank;
          if (j > static_cast<int>(threadIdx.x)) last = false;
        }
        const int32_t row = cursor[e] + rank;
        p.row_ids[row] = static_cast<int32_t>(i);
        p.inverse[i] = row;
      }
    }
    __syncthreads();  // every thread has read cursor and chunk
    if (last) cursor[e] += rank + 1;
    __syncthreads();
  }
}

}  // namespace

void permute_v1(const PermuteParams& p, cudaStream_t stream) {
  launch_kernel("permute_v1_kernel", permute_v1_kernel, 1, PERMUTE_THREADS, 0, stream, p);
}

}  // namespace moekit
