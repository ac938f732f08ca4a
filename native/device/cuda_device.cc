// CUDA devices: one non-blocking stream per GPU (its queue thread issues all
// work on it) and a stream-ordered memory pool (cudaMallocFromPoolAsync).
// Allocation happens on the JS thread; that is safe because the allocation
// is ordered on the stream before any work that uses it is issued, and a
// free is issued only after the last work that used the buffer.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <limits>

#include "../../cuda/common/check.h"
#include "cuda_runtime_host.h"

namespace moekit {

namespace {

// Compute capabilities the addon carries machine code or PTX for.
constexpr int MIN_COMPUTE_CAPABILITY = 80;

std::string hint_for(cudaError_t err) {
  switch (err) {
    case cudaErrorInsufficientDriver:
      return " (the NVIDIA driver is missing or older than this CUDA runtime needs; install driver 580 or newer)";
    case cudaErrorNoDevice:
      return " (no CUDA-capable GPU is visible; check nvidia-smi and CUDA_VISIBLE_DEVICES)";
    case cudaErrorCompatNotSupportedOnDevice:
      return " (forward compatibility is not supported on this GPU; update the driver)";
    default:
      return "";
  }
}

struct EventMarker final : Marker {
  cudaEvent_t event = nullptr;
  ~EventMarker() override {
    if (event) (void)cudaEventDestroy(event);
  }
};

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(const DeviceInfo& info) : Device(DeviceKind::Cuda, info.ordinal), info_(info) {
    try {
      MOEKIT_CUDA_CHECK(cudaSetDevice(info.ordinal));
      MOEKIT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      cudaMemPoolProps props = {};
      props.allocType = cudaMemAllocationTypePinned;
      props.handleTypes = cudaMemHandleTypeNone;
      props.location.type = cudaMemLocationTypeDevice;
      props.location.id = info.ordinal;
      MOEKIT_CUDA_CHECK(cudaMemPoolCreate(&pool_, &props));
      // Keep freed memory in the pool (as frameworks' caching allocators do);
      // it is returned to the driver when an allocation would otherwise fail.
      uint64_t threshold = std::numeric_limits<uint64_t>::max();
      MOEKIT_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &threshold));
    } catch (...) {
      // A failed start must not leak what it made (a later call may retry).
      if (pool_) (void)cudaMemPoolDestroy(pool_);
      if (stream_) (void)cudaStreamDestroy(stream_);
      (void)cudaGetLastError();
      throw;
    }
    queue_stream_ = stream_;
    const int ordinal = info.ordinal;
    start_queue([this, ordinal] {
      const cudaError_t err = cudaSetDevice(ordinal);
      if (err != cudaSuccess) {
        set_thread_error(Error(ErrorCode::Cuda, std::string("CUDA error ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) +
                                                    " (selecting the GPU on its queue thread)"));
      }
    });
  }

  DeviceInfo info() const override { return info_; }

  void copy_to_host(ExecContext&, void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    MOEKIT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    MOEKIT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  // Synchronous with the queue: the host buffer may be freed right after.
  void copy_from_host(ExecContext&, void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    MOEKIT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    MOEKIT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void copy_within(ExecContext&, void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    MOEKIT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  }

  void fill_bytes(ExecContext&, void* dst, int value, size_t bytes) override {
    if (bytes == 0) return;
    MOEKIT_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, stream_));
  }

  void finish(ExecContext&) override { MOEKIT_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

  std::unique_ptr<Marker> record_marker(ExecContext&) override {
    auto m = std::make_unique<EventMarker>();
    MOEKIT_CUDA_CHECK(cudaEventCreate(&m->event));
    MOEKIT_CUDA_CHECK(cudaEventRecord(m->event, stream_));
    return m;
  }

  double elapsed_ms(const Marker& start, const Marker& end) override {
    float ms = 0.0f;
    MOEKIT_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<const EventMarker&>(start).event,
                                           static_cast<const EventMarker&>(end).event));
    return ms;
  }

 protected:
  void* raw_allocate(size_t bytes, bool) override {
    MOEKIT_CUDA_CHECK(cudaSetDevice(info_.ordinal));
    void* p = nullptr;
    const cudaError_t err = cudaMallocFromPoolAsync(&p, bytes, pool_, stream_);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;
    }
    MOEKIT_CUDA_CHECK(err);
    return p;
  }

  // Runs from ~Storage, which must not throw: a failed free leaks the block.
  void raw_free(void* data, size_t, bool) override {
    if (cudaSetDevice(info_.ordinal) != cudaSuccess || cudaFreeAsync(data, stream_) != cudaSuccess) {
      (void)cudaGetLastError();
    }
  }

  void release_cached() override {
    if (cudaMemPoolTrimTo(pool_, 0) != cudaSuccess) (void)cudaGetLastError();
  }

  uint64_t capacity() const override { return info_.total_memory; }

  // A non-blocking look at the stream: idle, busy, or faulted (a sticky
  // error, thrown as Error(DeviceLost) by the check).
  bool work_outstanding(ExecContext&) override {
    const cudaError_t err = cudaStreamQuery(stream_);
    if (err == cudaErrorNotReady) {
      (void)cudaGetLastError();
      return true;
    }
    MOEKIT_CUDA_CHECK(err);
    return false;
  }

  void add_pool_stats(MemoryStats& m) override {
    uint64_t reserved = 0;
    if (cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved) == cudaSuccess) m.reserved = reserved;
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(info_.ordinal) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      m.device_free = free_bytes;
      m.device_total = total_bytes;
    }
    (void)cudaGetLastError();
  }

 private:
  DeviceInfo info_;
  cudaStream_t stream_ = nullptr;
  cudaMemPool_t pool_ = nullptr;
};

}  // namespace

bool cuda_built() { return true; }

int cuda_runtime_version() {
  int v = 0;
  return cudaRuntimeGetVersion(&v) == cudaSuccess ? v : 0;
}

int cuda_driver_version() {
  int v = 0;
  return cudaDriverGetVersion(&v) == cudaSuccess ? v : 0;
}

CudaProbe probe_cuda() {
  CudaProbe probe;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    probe.unavailable_reason = std::string("CUDA is not usable: ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) + hint_for(err);
    return probe;
  }
  const int driver = cuda_driver_version();
  const int runtime = cuda_runtime_version();
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop = {};
    const cudaError_t perr = cudaGetDeviceProperties(&prop, i);
    if (perr != cudaSuccess) {
      (void)cudaGetLastError();
      probe.skipped.push_back("cuda:" + std::to_string(i) + ": " + cudaGetErrorString(perr));
      continue;
    }
    const int cc = prop.major * 10 + prop.minor;
    int pools = 0;
    if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, i) != cudaSuccess) (void)cudaGetLastError();
    if (cc >= MIN_COMPUTE_CAPABILITY && !pools) {
      probe.skipped.push_back("cuda:" + std::to_string(i) + " (" + prop.name + "): the driver does not support stream-ordered memory pools here");
      continue;
    }
    if (cc < MIN_COMPUTE_CAPABILITY) {
      probe.skipped.push_back("cuda:" + std::to_string(i) + " (" + prop.name + ", compute capability " + std::to_string(prop.major) +
                              "." + std::to_string(prop.minor) + "): moekit needs compute capability 8.0 or newer");
      continue;
    }
    DeviceInfo info;
    info.kind = DeviceKind::Cuda;
    info.ordinal = i;
    info.id = "cuda:" + std::to_string(i);
    info.name = prop.name;
    info.total_memory = prop.totalGlobalMem;
    info.cc_major = prop.major;
    info.cc_minor = prop.minor;
    info.sm_count = prop.multiProcessorCount;
    info.l2_bytes = static_cast<uint64_t>(prop.l2CacheSize);
    info.shared_memory_per_block_optin = prop.sharedMemPerBlockOptin;
    info.shared_memory_per_sm = prop.sharedMemPerMultiprocessor;
    int clock = 0, mem_clock = 0;
    if (cudaDeviceGetAttribute(&clock, cudaDevAttrClockRate, i) == cudaSuccess) info.clock_khz = clock;
    if (cudaDeviceGetAttribute(&mem_clock, cudaDevAttrMemoryClockRate, i) == cudaSuccess) info.memory_clock_khz = mem_clock;
    (void)cudaGetLastError();
    info.memory_bus_width = prop.memoryBusWidth;
    info.driver_version = driver;
    info.runtime_version = runtime;
    probe.devices.push_back(info);
  }
  if (probe.devices.empty()) {
    probe.unavailable_reason = count == 0 ? "no CUDA-capable GPU was found" : "no GPU this build supports was found";
    for (const auto& s : probe.skipped) probe.unavailable_reason += "; " + s;
  }
  return probe;
}

std::unique_ptr<Device> make_cuda_device(const DeviceInfo& info) { return std::make_unique<CudaDevice>(info); }

void* cuda_host_alloc_pinned(size_t bytes) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  return p;
}

void cuda_host_free_pinned(void* data) {
  if (cudaFreeHost(data) != cudaSuccess) (void)cudaGetLastError();
}

}  // namespace moekit
