// Stand-ins used when the addon is built without CUDA (MOEKIT_CUDA=OFF or no nvcc).
#include "cuda_runtime_host.h"

namespace moekit {

bool cuda_built() { return false; }

CudaProbe probe_cuda() {
  CudaProbe p;
  p.unavailable_reason =
      "this build of moekit has no CUDA support (it was built without nvcc or with MOEKIT_CUDA=OFF); "
      "rebuild with the CUDA toolkit installed: MOEKIT_CUDA=ON npm run build:native";
  return p;
}

std::unique_ptr<Device> make_cuda_device(const DeviceInfo&) {
  throw_unsupported("this build of moekit has no CUDA support");
}

bool enqueue_peer_copy(const StoragePtr&, const StoragePtr&, size_t) { return false; }
void* cuda_host_alloc_pinned(size_t) { return nullptr; }
void cuda_host_free_pinned(void*) {}
int cuda_runtime_version() { return 0; }
int cuda_driver_version() { return 0; }

}  // namespace moekit
