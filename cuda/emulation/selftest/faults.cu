// The planted bugs of faults.h: each kernel is correct but for one
// deliberate mistake, of the kind one of the emulated GPU's checks exists to
// catch. Two runs, shared_race_synced and cp_async_waited, launch the same
// code as shared_race and cp_async_no_wait with the mistake fixed, so that a
// check firing on correct code is caught too. The kernels are written as the
// real ones are (launch_kernel, dynamic_shared_memory(), the cuda/common
// wrappers), so what is tested is the path every kernel takes. Each bug's
// line ends in "planted bug: <name>" (the deadlock has two), which is where
// the test expects the report to point.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "../../common/launch.cuh"
#include "../../common/mma.cuh"
#include "../../common/shared_memory.cuh"
#include "faults.h"

namespace moekit {
namespace selftest {

namespace {

constexpr int WARP = 32;

// Off-by-one bound (<= instead of <) on a grid with a thread to spare: the
// thread at index n stores one element past the end of the buffer.
__global__ void fault_oob_global_store(float* data, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i <= n) data[i] = 1.0f;  // planted bug: oob_global_store
}

// The same off-by-one on dynamic shared memory: thread `floats` stores
// just past the launch's dynamic bytes.
constexpr int OOB_SMEM_FLOATS = 64;
__global__ void fault_oob_dynamic_shared_store(float* data, int floats) {
  float* s = reinterpret_cast<float*>(dynamic_shared_memory());
  const int i = static_cast<int>(threadIdx.x);
  if (i <= floats) s[i] = 1.0f;  // planted bug: oob_dynamic_shared_store
  __syncthreads();
  if (i == 0) data[0] = s[0];
}

// Thread 0 publishes a value in shared memory and thread 1 reads it, with
// (synced) or without a barrier between them.
template <bool SYNCED>
__global__ void shared_handoff(float* data) {
  float* s = reinterpret_cast<float*>(dynamic_shared_memory());
  if (threadIdx.x == 0) s[0] = 1.0f;
  if constexpr (SYNCED) __syncthreads();
  if (threadIdx.x == 1) data[0] = s[0];  // planted bug: shared_race
}

// Each thread copies its 16 bytes into shared memory with cp.async and reads
// them back, having waited for the copy (waited) or not.
template <bool WAITED>
__global__ void cp_async_readback(float* data) {
  float* s = reinterpret_cast<float*>(dynamic_shared_memory());
  const int chunk = static_cast<int>(threadIdx.x) * 4;
  cp_async_16(smem_address(s + chunk), data + chunk, true);
  cp_async_commit();
  if constexpr (WAITED) cp_async_wait<0>();
  data[chunk] = s[chunk] + 1.0f;  // planted bug: cp_async_no_wait
}

// Half the warp shuffles with the whole warp while the other half waits at
// the block's barrier: each half waits for the other forever.
__global__ void fault_deadlock(float* data) {
  float v = data[threadIdx.x];
  if (threadIdx.x < WARP / 2) {
    v = __shfl_sync(0xffffffffu, v, 0);  // planted bug: deadlock
  } else {
    __syncthreads();  // planted bug: deadlock
  }
  data[threadIdx.x] = v;
}

// Lane 0 names the whole warp in its shuffle, the other lanes leave lane 0
// out: the lanes call one collective with different masks.
__global__ void fault_divergent_shuffle(float* data) {
  const unsigned mask = threadIdx.x == 0 ? 0xffffffffu : 0xfffffffeu;
  data[threadIdx.x] = __shfl_sync(mask, data[threadIdx.x], 1);  // planted bug: divergent_shuffle
}

// One thread of the second block traps, as a failed device-side check does.
constexpr unsigned TRAP_BLOCK = 1;
constexpr unsigned TRAP_THREAD = 37;
__global__ void fault_trap(float* data) {
  if (blockIdx.x == TRAP_BLOCK && threadIdx.x == TRAP_THREAD) __trap();  // planted bug: trap
  data[threadIdx.x] = 1.0f;
}

// A 4-byte load from an address `byte_offset` bytes into the buffer, which
// is not a multiple of 4: an unaligned reinterpretation of a byte pointer.
__global__ void fault_misaligned_load(float* data, int byte_offset) {
  if (threadIdx.x != 0) return;
  const float* p = reinterpret_cast<const float*>(reinterpret_cast<const char*>(data) + byte_offset);
  data[FAULT_BUFFER_FLOATS - 1] = *p;  // planted bug: misaligned_load
}

struct Fault {
  const char* name;
  void (*launch)(float* buffer, cudaStream_t stream);
};

const Fault FAULTS[] = {
    {"oob_global_store",
     [](float* buffer, cudaStream_t stream) {
       launch_kernel("fault_oob_global_store", fault_oob_global_store, FAULT_BUFFER_FLOATS / WARP + 1, WARP, 0, stream,
                     buffer, FAULT_BUFFER_FLOATS);
     }},
    {"oob_dynamic_shared_store",
     [](float* buffer, cudaStream_t stream) {
       launch_kernel("fault_oob_dynamic_shared_store", fault_oob_dynamic_shared_store, 1, 2 * OOB_SMEM_FLOATS,
                     OOB_SMEM_FLOATS * sizeof(float), stream, buffer, OOB_SMEM_FLOATS);
     }},
    {"shared_race",
     [](float* buffer, cudaStream_t stream) {
       launch_kernel("fault_shared_race", shared_handoff<false>, 1, WARP, WARP * sizeof(float), stream, buffer);
     }},
    {"shared_race_synced",
     [](float* buffer, cudaStream_t stream) {
       launch_kernel("fault_shared_race_synced", shared_handoff<true>, 1, WARP, WARP * sizeof(float), stream, buffer);
     }},
    {"cp_async_no_wait",
     [](float* buffer, cudaStream_t stream) {
       launch_kernel("fault_cp_async_no_wait", cp_async_readback<false>, 1, FAULT_BUFFER_FLOATS / 4,
                     FAULT_BUFFER_FLOATS * sizeof(float), stream, buffer);
     }},
    {"cp_async_waited",
     [](float* buffer, cudaStream_t stream) {
       launch_kernel("fault_cp_async_waited", cp_async_readback<true>, 1, FAULT_BUFFER_FLOATS / 4,
                     FAULT_BUFFER_FLOATS * sizeof(float), stream, buffer);
     }},
    {"deadlock",
     [](float* buffer, cudaStream_t stream) { launch_kernel("fault_deadlock", fault_deadlock, 1, WARP, 0, stream, buffer); }},
    {"divergent_shuffle",
     [](float* buffer, cudaStream_t stream) {
       launch_kernel("fault_divergent_shuffle", fault_divergent_shuffle, 1, WARP, 0, stream, buffer);
     }},
    {"trap",
     [](float* buffer, cudaStream_t stream) {
       launch_kernel("fault_trap", fault_trap, TRAP_BLOCK + 1, 2 * WARP, 0, stream, buffer);
     }},
    {"misaligned_load",
     [](float* buffer, cudaStream_t stream) {
       launch_kernel("fault_misaligned_load", fault_misaligned_load, 1, WARP, 0, stream, buffer, 2);
     }},
};

}  // namespace

std::vector<std::string> fault_names() {
  std::vector<std::string> names;
  for (const Fault& f : FAULTS) names.emplace_back(f.name);
  return names;
}

bool launch_fault(const std::string& name, float* buffer, cudaStream_t stream) {
  for (const Fault& f : FAULTS) {
    if (name == f.name) {
      f.launch(buffer, stream);
      return true;
    }
  }
  return false;
}

}  // namespace selftest
}  // namespace moekit
