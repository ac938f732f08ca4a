// Kernel launches: the checks the CUDA runtime makes before queueing a
// grid, and cudaFuncSetAttribute, which sets the limits they use.
//
// - Grid: x in 1..2^31-1, y and z in 1..65535. Block: x and y up to 1024,
//   z up to 64, 1..maxThreadsPerBlock threads. Otherwise
//   cudaErrorInvalidConfiguration.
// - Dynamic shared memory: up to 48 KiB, or up to what
//   cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize)
//   allowed for the kernel on the device (per device, as function attributes
//   belong to a context); never above the profile's opt-in maximum, which
//   cudaFuncSetAttribute refuses to exceed. Otherwise cudaErrorInvalidValue,
//   CUDA's "invalid argument" for a launch asking too much shared memory.
//   (Static __shared__ memory is not known here and not counted.)
// - The stream must belong to the current device
//   (cudaErrorInvalidResourceHandle otherwise); a faulted device returns its
//   sticky error.
// A failed check is also the thread's last error. A launch that passes is
// queued on its stream, whose worker runs it with run_grid; a fault there
// makes the device unusable (errors.cc).
#include "launch.h"

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "../profile.h"
#include "runtime.h"

namespace moekit {
namespace emu {

namespace launch_detail {

struct FunctionLimits {
  std::mutex mutex;
  std::map<std::pair<int, const void*>, size_t> max_dynamic_smem;  // (device, kernel) -> bytes
};

FunctionLimits& limits() {
  static auto* l = new FunctionLimits();
  return *l;
}

size_t dynamic_smem_limit(int device, const void* kernel) {
  FunctionLimits& l = limits();
  std::lock_guard<std::mutex> lock(l.mutex);
  auto it = l.max_dynamic_smem.find({device, kernel});
  return it != l.max_dynamic_smem.end() ? it->second : active_profile().smem_per_block;
}

}  // namespace launch_detail

cudaError_t launch_grid(const void* kernel_function, GridLaunch launch, cudaStream_t stream) {
  if (cudaError_t e = rt::enter()) return e;
  const std::string call = "launch of " + launch.kernel;
  int device = 0;
  if (cudaError_t e = rt::context_device(call.c_str(), &device)) return e;
  if (kernel_function == nullptr) return rt::record(cudaErrorInvalidDeviceFunction);
  rt::Stream* st = nullptr;
  if (cudaError_t e = rt::resolve_stream(stream, device, &st)) return rt::record(e);
  if (rt::stream_device(st) != device) return rt::record(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = rt::sticky_error(device)) return rt::record(e);

  const Profile& p = active_profile();
  const Dim3& g = launch.grid;
  const Dim3& b = launch.block;
  if (g.x < 1 || g.x > 0x7FFFFFFFu || g.y < 1 || g.y > 65535 || g.z < 1 || g.z > 65535) {
    return rt::record(cudaErrorInvalidConfiguration);
  }
  if (b.x < 1 || b.x > 1024 || b.y < 1 || b.y > 1024 || b.z < 1 || b.z > 64 ||
      b.count() > static_cast<uint64_t>(p.max_threads_per_block)) {
    return rt::record(cudaErrorInvalidConfiguration);
  }
  if (launch.dynamic_smem > p.smem_per_block_optin ||
      launch.dynamic_smem > launch_detail::dynamic_smem_limit(device, kernel_function)) {
    return rt::record(cudaErrorInvalidValue);
  }

  launch.device = device;
  rt::Work work;
  work.what = "kernel";
  work.touches_memory = true;
  work.run = [launch = std::move(launch), device] {
    KernelFault fault;
    if (!run_grid(launch, &fault)) {
      rt::fault_device(device, fault.code != 0 ? fault.code : static_cast<int>(cudaErrorLaunchFailure),
                       fault.report.empty() ? "kernel " + launch.kernel + " failed" : fault.report);
    }
  };
  if (!rt::enqueue(st, std::move(work))) return rt::record(rt::not_queued_error());
  return cudaSuccess;
}

}  // namespace emu
}  // namespace moekit

using namespace moekit::emu;

extern "C" cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaFuncSetAttribute", &device)) return e;
  if (func == nullptr) return rt::record(cudaErrorInvalidDeviceFunction);
  if (cudaError_t e = rt::sticky_error(device)) return rt::record(e);
  const Profile& p = active_profile();
  switch (attr) {
    case cudaFuncAttributeMaxDynamicSharedMemorySize: {
      if (value < 0 || static_cast<size_t>(value) > p.smem_per_block_optin) return rt::record(cudaErrorInvalidValue);
      launch_detail::FunctionLimits& l = launch_detail::limits();
      std::lock_guard<std::mutex> lock(l.mutex);
      l.max_dynamic_smem[{device, func}] = static_cast<size_t>(value);
      return cudaSuccess;
    }
    case cudaFuncAttributePreferredSharedMemoryCarveout:
      // A hint: -1 (default) or a percentage.
      if (value < -1 || value > 100) return rt::record(cudaErrorInvalidValue);
      return cudaSuccess;
    case cudaFuncAttributeRequiredClusterWidth:
    case cudaFuncAttributeRequiredClusterHeight:
    case cudaFuncAttributeRequiredClusterDepth:
    case cudaFuncAttributeNonPortableClusterSizeAllowed:
    case cudaFuncAttributeClusterSchedulingPolicyPreference:
      // Clusters exist from compute capability 9.0; launches here are clusters of one.
      if (p.major < 9 || value < 0) return rt::record(cudaErrorInvalidValue);
      return cudaSuccess;
    default:
      return rt::record(cudaErrorInvalidValue);
  }
}
