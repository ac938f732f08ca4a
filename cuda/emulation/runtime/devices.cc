// Devices: how many (MOEKIT_EMU_DEVICES), what they report (the profile,
// cuda/emulation/profile.cc), the thread's current device, entering the
// runtime and its teardown at exit.
//
// The current device is per thread, as in CUDA. A thread that never chose
// one (cudaSetDevice, cuCtxSetCurrent) and makes a call that needs a
// context gets device 0, as CUDA would give it (CUDA also makes device 0's
// primary context current there, opening a context the program may not
// want); the emulation says so on stderr, once per thread, and counts every
// such call (moekit_emu_implicit_device_uses). With
// MOEKIT_EMU_STRICT_DEVICE=1 the call fails with cudaErrorInvalidDevice
// instead. Queries that need no context (device count, properties,
// attributes, versions, errors, cudaSetDevice itself) are not counted.
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "../profile.h"
#include "runtime.h"

namespace moekit {
namespace emu {
namespace rt {

namespace devices_detail {

struct Config {
  int devices = 1;
  size_t memory = 0;
  bool strict = false;
};

// "8G", "512M", "1073741824", with an optional "B"/"iB" after the suffix.
bool parse_bytes(const char* text, size_t* out) {
  const char* p = text;
  if (!std::isdigit(static_cast<unsigned char>(*p))) return false;
  unsigned long long value = 0;
  while (std::isdigit(static_cast<unsigned char>(*p))) {
    const unsigned digit = static_cast<unsigned>(*p - '0');
    if (value > (~0ull - digit) / 10) return false;
    value = value * 10 + digit;
    ++p;
  }
  int shift = 0;
  switch (std::toupper(static_cast<unsigned char>(*p))) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: break;
  }
  if (shift) {
    ++p;
    if (*p == 'i') ++p;
    if (*p == 'B' || *p == 'b') ++p;
  } else if (*p == 'B' || *p == 'b') {
    ++p;
  }
  if (*p != '\0' || value == 0 || value > (~0ull >> shift)) return false;
  *out = static_cast<size_t>(value << shift);
  return true;
}

const Config& config() {
  static const Config c = [] {
    Config made;
    made.memory = active_profile().global_memory;
    if (const char* text = std::getenv("MOEKIT_EMU_DEVICES"); text && *text) {
      char* end = nullptr;
      const long n = std::strtol(text, &end, 10);
      if (end && *end == '\0' && n >= 1 && n <= MAX_DEVICES) {
        made.devices = static_cast<int>(n);
      } else {
        std::fprintf(stderr, "moekit emulation: MOEKIT_EMU_DEVICES must be a count from 1 to %d, got '%s'; emulating 1 GPU\n",
                     MAX_DEVICES, text);
      }
    }
    if (const char* text = std::getenv("MOEKIT_EMU_DEVICE_MEMORY"); text && *text) {
      size_t bytes = 0;
      if (parse_bytes(text, &bytes)) {
        made.memory = bytes;
      } else {
        std::fprintf(stderr,
                     "moekit emulation: MOEKIT_EMU_DEVICE_MEMORY must be a positive number of bytes, optionally with a K, M, G or T "
                     "suffix (e.g. 8G), got '%s'; using the profile's %zu bytes\n",
                     text, made.memory);
      }
    }
    const char* strict = std::getenv("MOEKIT_EMU_STRICT_DEVICE");
    made.strict = strict && std::strcmp(strict, "1") == 0;
    return made;
  }();
  return c;
}

std::atomic<bool> unloading_now{false};
std::atomic<unsigned long> implicit_uses{0};
thread_local int current_device = -1;
thread_local bool implicit_reported = false;

void tear_down_at_exit() {
  unloading_now.store(true);
  teardown_streams();
}

void fill_properties(cudaDeviceProp* p, int device) {
  const Profile& pr = active_profile();
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "%s", pr.device_name);
  // A stable UUID per profile and ordinal: "moekit-emu" + profile + ordinal.
  std::snprintf(p->uuid.bytes, sizeof p->uuid.bytes, "moekit-emu%.5s", pr.name);
  p->uuid.bytes[15] = static_cast<char>(device);
  p->totalGlobalMem = device_memory_capacity();
  p->sharedMemPerBlock = pr.smem_per_block;
  p->regsPerBlock = pr.regs_per_block;
  p->warpSize = pr.warp_size;
  p->memPitch = 2147483647;
  p->maxThreadsPerBlock = pr.max_threads_per_block;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->totalConstMem = 65536;
  p->major = pr.major;
  p->minor = pr.minor;
  p->textureAlignment = 512;
  p->texturePitchAlignment = 32;
  p->multiProcessorCount = pr.sm_count;
  p->integrated = 0;
  p->canMapHostMemory = 1;
  p->maxTexture1D = 131072;
  p->maxTexture1DMipmap = 32768;
  p->maxTexture2D[0] = 131072;
  p->maxTexture2D[1] = 65536;
  p->maxTexture2DMipmap[0] = 32768;
  p->maxTexture2DMipmap[1] = 32768;
  p->maxTexture2DLinear[0] = 131072;
  p->maxTexture2DLinear[1] = 65000;
  p->maxTexture2DLinear[2] = 2097120;
  p->maxTexture2DGather[0] = 32768;
  p->maxTexture2DGather[1] = 32768;
  p->maxTexture3D[0] = p->maxTexture3D[1] = p->maxTexture3D[2] = 16384;
  p->maxTexture3DAlt[0] = p->maxTexture3DAlt[1] = 8192;
  p->maxTexture3DAlt[2] = 32768;
  p->maxTextureCubemap = 32768;
  p->maxTexture1DLayered[0] = 32768;
  p->maxTexture1DLayered[1] = 2048;
  p->maxTexture2DLayered[0] = p->maxTexture2DLayered[1] = 32768;
  p->maxTexture2DLayered[2] = 2048;
  p->maxTextureCubemapLayered[0] = 32768;
  p->maxTextureCubemapLayered[1] = 2046;
  p->maxSurface1D = 32768;
  p->maxSurface2D[0] = 131072;
  p->maxSurface2D[1] = 65536;
  p->maxSurface3D[0] = p->maxSurface3D[1] = p->maxSurface3D[2] = 16384;
  p->maxSurface1DLayered[0] = 32768;
  p->maxSurface1DLayered[1] = 2048;
  p->maxSurface2DLayered[0] = p->maxSurface2DLayered[1] = 32768;
  p->maxSurface2DLayered[2] = 2048;
  p->maxSurfaceCubemap = 32768;
  p->maxSurfaceCubemapLayered[0] = 32768;
  p->maxSurfaceCubemapLayered[1] = 2046;
  p->surfaceAlignment = 512;
  p->concurrentKernels = 1;
  p->ECCEnabled = 1;
  p->pciBusID = 0x18 + 0x10 * device;
  p->pciDeviceID = 0;
  p->pciDomainID = 0;
  p->tccDriver = 0;
  p->asyncEngineCount = 2;
  p->unifiedAddressing = 1;
  p->memoryBusWidth = pr.memory_bus_width;
  p->l2CacheSize = static_cast<int>(pr.l2_bytes);
  p->persistingL2CacheMaxSize = static_cast<int>(pr.l2_bytes / 4 * 3);
  p->maxThreadsPerMultiProcessor = pr.max_threads_per_sm;
  p->streamPrioritiesSupported = 1;
  p->globalL1CacheSupported = 1;
  p->localL1CacheSupported = 1;
  p->sharedMemPerMultiprocessor = pr.smem_per_sm;
  p->regsPerMultiprocessor = pr.regs_per_sm;
  p->managedMemory = 1;
  p->isMultiGpuBoard = 0;
  p->multiGpuBoardGroupID = device;
  p->hostNativeAtomicSupported = 0;
  p->pageableMemoryAccess = 0;
  p->concurrentManagedAccess = 1;
  p->computePreemptionSupported = 1;
  p->canUseHostPointerForRegisteredMem = 1;
  p->cooperativeLaunch = 1;
  p->sharedMemPerBlockOptin = pr.smem_per_block_optin;
  p->pageableMemoryAccessUsesHostPageTables = 0;
  p->directManagedMemAccessFromHost = 0;
  p->maxBlocksPerMultiProcessor = pr.max_blocks_per_sm;
  p->accessPolicyMaxWindowSize = 134213632;
  p->reservedSharedMemPerBlock = pr.reserved_smem_per_block;
  p->hostRegisterSupported = 1;
  p->sparseCudaArraySupported = 1;
  p->hostRegisterReadOnlySupported = 1;
  p->timelineSemaphoreInteropSupported = 1;
  p->memoryPoolsSupported = 1;
  p->gpuDirectRDMASupported = 0;
  p->gpuDirectRDMAFlushWritesOptions = 0;
  p->gpuDirectRDMAWritesOrdering = 0;
  p->memoryPoolSupportedHandleTypes = cudaMemHandleTypePosixFileDescriptor;
  p->deferredMappingCudaArraySupported = 1;
  p->ipcEventSupported = 1;
  p->clusterLaunch = pr.major >= 9 ? 1 : 0;
  p->unifiedFunctionPointers = 0;
  p->deviceNumaConfig = 0;
  p->deviceNumaId = -1;
  p->mpsEnabled = 0;
  p->hostNumaId = -1;
}

}  // namespace devices_detail

int device_count() { return devices_detail::config().devices; }
bool valid_device(int device) { return device >= 0 && device < device_count(); }
size_t device_memory_capacity() { return devices_detail::config().memory; }
bool strict_device() { return devices_detail::config().strict; }

cudaError_t enter() {
  static std::once_flag installed;
  std::call_once(installed, [] {
    (void)devices_detail::config();
    // Like the CUDA runtime's own: registered at its first use, so exit
    // handlers a program registers after that run before it.
    std::atexit(devices_detail::tear_down_at_exit);
  });
  if (devices_detail::unloading_now.load()) return record(cudaErrorCudartUnloading);
  return cudaSuccess;
}

bool unloading() { return devices_detail::unloading_now.load(); }

int selected_device() { return devices_detail::current_device; }
void select_device(int device) { devices_detail::current_device = device; }

cudaError_t context_device(const char* call, int* device) {
  if (devices_detail::current_device >= 0) {
    *device = devices_detail::current_device;
    return cudaSuccess;
  }
  devices_detail::implicit_uses.fetch_add(1);
  const bool strict = strict_device();
  if (!devices_detail::implicit_reported) {
    devices_detail::implicit_reported = true;
    if (strict) {
      std::fprintf(stderr,
                   "moekit emulation: %s on a thread with no current device: failed with cudaErrorInvalidDevice "
                   "(MOEKIT_EMU_STRICT_DEVICE=1)\n",
                   call);
    } else {
      std::fprintf(stderr, "moekit emulation: %s on a thread with no current device: device 0 used implicitly\n", call);
    }
    std::fflush(stderr);
  }
  if (strict) return record(cudaErrorInvalidDevice);
  *device = 0;
  return cudaSuccess;
}

}  // namespace rt
}  // namespace emu
}  // namespace moekit

using namespace moekit::emu;

extern "C" {

unsigned long moekit_emu_implicit_device_uses() { return rt::devices_detail::implicit_uses.load(); }

cudaError_t cudaGetDeviceCount(int* count) {
  if (cudaError_t e = rt::enter()) return e;
  if (!count) return rt::record(cudaErrorInvalidValue);
  *count = rt::device_count();
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (cudaError_t e = rt::enter()) return e;
  if (!rt::valid_device(device)) return rt::record(cudaErrorInvalidDevice);
  rt::select_device(device);
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (cudaError_t e = rt::enter()) return e;
  if (!device) return rt::record(cudaErrorInvalidValue);
  const int d = rt::selected_device();
  *device = d >= 0 ? d : 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (cudaError_t e = rt::enter()) return e;
  if (!prop) return rt::record(cudaErrorInvalidValue);
  if (!rt::valid_device(device)) return rt::record(cudaErrorInvalidDevice);
  rt::devices_detail::fill_properties(prop, device);
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (cudaError_t e = rt::enter()) return e;
  if (!value) return rt::record(cudaErrorInvalidValue);
  if (!rt::valid_device(device)) return rt::record(cudaErrorInvalidDevice);
  cudaDeviceProp p;
  rt::devices_detail::fill_properties(&p, device);
  const Profile& pr = active_profile();
  int v = 0;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: v = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: v = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxBlockDimY: v = p.maxThreadsDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: v = p.maxThreadsDim[2]; break;
    case cudaDevAttrMaxGridDimX: v = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: v = p.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: v = p.maxGridSize[2]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: v = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrTotalConstantMemory: v = static_cast<int>(p.totalConstMem); break;
    case cudaDevAttrWarpSize: v = p.warpSize; break;
    case cudaDevAttrMaxPitch: v = static_cast<int>(p.memPitch); break;
    case cudaDevAttrMaxRegistersPerBlock: v = p.regsPerBlock; break;
    case cudaDevAttrClockRate: v = pr.clock_khz; break;
    case cudaDevAttrTextureAlignment: v = static_cast<int>(p.textureAlignment); break;
    case cudaDevAttrGpuOverlap: v = 1; break;
    case cudaDevAttrMultiProcessorCount: v = p.multiProcessorCount; break;
    case cudaDevAttrKernelExecTimeout: v = 0; break;
    case cudaDevAttrIntegrated: v = p.integrated; break;
    case cudaDevAttrCanMapHostMemory: v = p.canMapHostMemory; break;
    case cudaDevAttrComputeMode: v = cudaComputeModeDefault; break;
    case cudaDevAttrSurfaceAlignment: v = static_cast<int>(p.surfaceAlignment); break;
    case cudaDevAttrConcurrentKernels: v = p.concurrentKernels; break;
    case cudaDevAttrEccEnabled: v = p.ECCEnabled; break;
    case cudaDevAttrPciBusId: v = p.pciBusID; break;
    case cudaDevAttrPciDeviceId: v = p.pciDeviceID; break;
    case cudaDevAttrTccDriver: v = p.tccDriver; break;
    case cudaDevAttrMemoryClockRate: v = pr.memory_clock_khz; break;
    case cudaDevAttrGlobalMemoryBusWidth: v = p.memoryBusWidth; break;
    case cudaDevAttrL2CacheSize: v = p.l2CacheSize; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: v = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrAsyncEngineCount: v = p.asyncEngineCount; break;
    case cudaDevAttrUnifiedAddressing: v = p.unifiedAddressing; break;
    case cudaDevAttrPciDomainId: v = p.pciDomainID; break;
    case cudaDevAttrTexturePitchAlignment: v = static_cast<int>(p.texturePitchAlignment); break;
    case cudaDevAttrComputeCapabilityMajor: v = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: v = p.minor; break;
    case cudaDevAttrStreamPrioritiesSupported: v = p.streamPrioritiesSupported; break;
    case cudaDevAttrGlobalL1CacheSupported: v = p.globalL1CacheSupported; break;
    case cudaDevAttrLocalL1CacheSupported: v = p.localL1CacheSupported; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: v = static_cast<int>(p.sharedMemPerMultiprocessor); break;
    case cudaDevAttrMaxRegistersPerMultiprocessor: v = p.regsPerMultiprocessor; break;
    case cudaDevAttrManagedMemory: v = p.managedMemory; break;
    case cudaDevAttrIsMultiGpuBoard: v = p.isMultiGpuBoard; break;
    case cudaDevAttrMultiGpuBoardGroupID: v = p.multiGpuBoardGroupID; break;
    case cudaDevAttrHostNativeAtomicSupported: v = p.hostNativeAtomicSupported; break;
    case cudaDevAttrSingleToDoublePrecisionPerfRatio: v = 2; break;
    case cudaDevAttrPageableMemoryAccess: v = p.pageableMemoryAccess; break;
    case cudaDevAttrConcurrentManagedAccess: v = p.concurrentManagedAccess; break;
    case cudaDevAttrComputePreemptionSupported: v = p.computePreemptionSupported; break;
    case cudaDevAttrCanUseHostPointerForRegisteredMem: v = p.canUseHostPointerForRegisteredMem; break;
    case cudaDevAttrCooperativeLaunch: v = p.cooperativeLaunch; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: v = static_cast<int>(p.sharedMemPerBlockOptin); break;
    case cudaDevAttrCanFlushRemoteWrites: v = 0; break;
    case cudaDevAttrHostRegisterSupported: v = p.hostRegisterSupported; break;
    case cudaDevAttrPageableMemoryAccessUsesHostPageTables: v = p.pageableMemoryAccessUsesHostPageTables; break;
    case cudaDevAttrDirectManagedMemAccessFromHost: v = p.directManagedMemAccessFromHost; break;
    case cudaDevAttrMaxBlocksPerMultiprocessor: v = p.maxBlocksPerMultiProcessor; break;
    case cudaDevAttrMaxPersistingL2CacheSize: v = p.persistingL2CacheMaxSize; break;
    case cudaDevAttrMaxAccessPolicyWindowSize: v = p.accessPolicyMaxWindowSize; break;
    case cudaDevAttrReservedSharedMemoryPerBlock: v = static_cast<int>(p.reservedSharedMemPerBlock); break;
    case cudaDevAttrSparseCudaArraySupported: v = p.sparseCudaArraySupported; break;
    case cudaDevAttrHostRegisterReadOnlySupported: v = p.hostRegisterReadOnlySupported; break;
    case cudaDevAttrTimelineSemaphoreInteropSupported: v = p.timelineSemaphoreInteropSupported; break;
    case cudaDevAttrMemoryPoolsSupported: v = p.memoryPoolsSupported; break;
    case cudaDevAttrGPUDirectRDMASupported: v = p.gpuDirectRDMASupported; break;
    case cudaDevAttrGPUDirectRDMAFlushWritesOptions: v = static_cast<int>(p.gpuDirectRDMAFlushWritesOptions); break;
    case cudaDevAttrGPUDirectRDMAWritesOrdering: v = p.gpuDirectRDMAWritesOrdering; break;
    case cudaDevAttrMemoryPoolSupportedHandleTypes: v = static_cast<int>(p.memoryPoolSupportedHandleTypes); break;
    case cudaDevAttrClusterLaunch: v = p.clusterLaunch; break;
    case cudaDevAttrDeferredMappingCudaArraySupported: v = p.deferredMappingCudaArraySupported; break;
    case cudaDevAttrIpcEventSupport: v = p.ipcEventSupported; break;
    case cudaDevAttrMemSyncDomainCount: v = pr.major >= 9 ? 4 : 1; break;
    case cudaDevAttrNumaConfig: v = p.deviceNumaConfig; break;
    case cudaDevAttrNumaId: v = p.deviceNumaId; break;
    case cudaDevAttrMpsEnabled: v = p.mpsEnabled; break;
    case cudaDevAttrHostNumaId: v = p.hostNumaId; break;
    case cudaDevAttrMaxTexture1DWidth: v = p.maxTexture1D; break;
    case cudaDevAttrMaxTexture2DWidth: v = p.maxTexture2D[0]; break;
    case cudaDevAttrMaxTexture2DHeight: v = p.maxTexture2D[1]; break;
    case cudaDevAttrMaxTexture3DWidth: v = p.maxTexture3D[0]; break;
    case cudaDevAttrMaxTexture3DHeight: v = p.maxTexture3D[1]; break;
    case cudaDevAttrMaxTexture3DDepth: v = p.maxTexture3D[2]; break;
    case cudaDevAttrMaxSurface1DWidth: v = p.maxSurface1D; break;
    case cudaDevAttrMaxSurface2DWidth: v = p.maxSurface2D[0]; break;
    case cudaDevAttrMaxSurface2DHeight: v = p.maxSurface2D[1]; break;
    default: return rt::record(cudaErrorInvalidValue);
  }
  *value = v;
  return cudaSuccess;
}

cudaError_t cudaDeviceCanAccessPeer(int* canAccessPeer, int device, int peerDevice) {
  if (cudaError_t e = rt::enter()) return e;
  if (!canAccessPeer) return rt::record(cudaErrorInvalidValue);
  if (!rt::valid_device(device) || !rt::valid_device(peerDevice)) return rt::record(cudaErrorInvalidDevice);
  // Every pair of emulated GPUs is linked (as on an NVLink/NVSwitch board).
  *canAccessPeer = device != peerDevice ? 1 : 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaDeviceSynchronize", &device)) return e;
  if (!rt::synchronize_streams(device)) return rt::record(cudaErrorCudartUnloading);
  rt::pools_after_synchronize(device);
  return rt::record(rt::sticky_error(device));
}

cudaError_t cudaRuntimeGetVersion(int* runtimeVersion) {
  if (cudaError_t e = rt::enter()) return e;
  if (!runtimeVersion) return rt::record(cudaErrorInvalidValue);
  *runtimeVersion = 13000;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* driverVersion) {
  if (cudaError_t e = rt::enter()) return e;
  if (!driverVersion) return rt::record(cudaErrorInvalidValue);
  *driverVersion = 13000;
  return cudaSuccess;
}

}  // extern "C"
