// What the rest of the addon needs from the CUDA runtime, without including
// it. cuda_device.cc implements these when the addon is built with CUDA;
// no_cuda.cc otherwise (no GPU is ever listed).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "../core/device.h"

namespace moekit {

// Whether the addon was built with CUDA support at all.
bool cuda_built();

struct CudaProbe {
  std::vector<DeviceInfo> devices;  // usable GPUs, in CUDA ordinal order
  std::string unavailable_reason;   // why none are listed, when none are
  std::vector<std::string> skipped; // GPUs present but unusable, with the reason
};

// Enumerates GPUs (cheap: no context is created). Never throws.
CudaProbe probe_cuda();

// Creates the device object (its context, stream and memory pool) for a
// probed ordinal. Throws moekit::Error.
std::unique_ptr<Device> make_cuda_device(const DeviceInfo& info);

// Queues a copy of `bytes` from `src` to `dst`, buffers on two different
// GPUs, as a peer copy on the source GPU's stream, ordered with the
// destination's stream by events (no host round trip, no queue waits on
// the GPU). False when the GPUs cannot access each other's memory: the
// caller then copies through host memory.
bool enqueue_peer_copy(const StoragePtr& src, const StoragePtr& dst, size_t bytes);

// Page-locked host memory; nullptr when unavailable or out of memory.
void* cuda_host_alloc_pinned(size_t bytes);
void cuda_host_free_pinned(void* data);

// Versions for diagnostics (0 when unknown).
int cuda_runtime_version();
int cuda_driver_version();

}  // namespace moekit
