// CUDA devices: one non-blocking stream per GPU (its queue thread issues all
// work on it) and a stream-ordered memory pool (cudaMallocFromPoolAsync).
// Allocation happens on the JS thread; that is safe because the allocation
// is ordered on the stream before any work that uses it is issued, and a
// free is issued only after the last work that used the buffer.
#include <cuda.h>
#include <cuda_runtime_api.h>

#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "../../cuda/common/check.h"
#include "../core/latch.h"
#include "cuda_runtime_host.h"
#include "host_memory.h"
#include "registry.h"

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

// The thread's current context, from the driver: the runtime cannot say
// "no device selected", and restoring "device 0" would open a context there.
using CtxGetCurrentFn = CUresult (*)(CUcontext*);
using CtxSetCurrentFn = CUresult (*)(CUcontext);

struct ContextEntryPoints {
  CtxGetCurrentFn get = nullptr;
  CtxSetCurrentFn set = nullptr;
};

const ContextEntryPoints& context_entry_points() {
  static const ContextEntryPoints fns = [] {
    ContextEntryPoints f;
    void* get = nullptr;
    void* set = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    if (cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &get, 12000, cudaEnableDefault, &found) == cudaSuccess &&
        found == cudaDriverEntryPointSuccess &&
        cudaGetDriverEntryPointByVersion("cuCtxSetCurrent", &set, 12000, cudaEnableDefault, &found) == cudaSuccess &&
        found == cudaDriverEntryPointSuccess) {
      f.get = reinterpret_cast<CtxGetCurrentFn>(get);
      f.set = reinterpret_cast<CtxSetCurrentFn>(set);
    }
    (void)cudaGetLastError();
    return f;
  }();
  return fns;
}

// Makes GPU `ordinal` current on this thread for a scope, then puts back
// the context that was current before (none, on a thread that never chose
// one). Every CUDA call made outside the device's own queue thread (the JS
// thread, other queues, finalizers) runs inside one: otherwise the runtime
// would open a context on cuda:0 for it (hundreds of MB), and another CUDA
// library on the JS thread would find its device changed.
class DeviceScope {
 public:
  explicit DeviceScope(int ordinal) {
    const ContextEntryPoints& ctx = context_entry_points();
    if (ctx.get && ctx.get(&saved_) == CUDA_SUCCESS) restore_ = true;
    ok_ = cudaSetDevice(ordinal) == cudaSuccess;
    if (!ok_) (void)cudaGetLastError();
  }
  ~DeviceScope() {
    if (restore_) (void)context_entry_points().set(saved_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;
  bool ok() const { return ok_; }

 private:
  CUcontext saved_ = nullptr;
  bool restore_ = false;
  bool ok_ = false;
};

struct EventMarker final : Marker {
  cudaEvent_t event = nullptr;
  int ordinal = 0;
  // May run on the JS thread (when the marker is collected).
  ~EventMarker() override {
    if (!event) return;
    const DeviceScope scope(ordinal);
    if (cudaEventDestroy(event) != cudaSuccess) (void)cudaGetLastError();
  }
};

// The GPU whose context owns pinned host memory (portable, so every GPU
// can use it): the first one the process uses, else the first usable one,
// so that a process working on cuda:3 alone opens no context on cuda:0.
int pinned_owner() {
  const int in_use = first_gpu_in_use();
  if (in_use >= 0) return in_use;
  const CudaProbe& probe = cuda_probe();
  return probe.devices.empty() ? 0 : probe.devices.front().ordinal;
}

// Frees pinned host blocks on a thread of its own: cudaFreeHost synchronizes
// the GPU, which must never happen on the JS thread or under the host
// cache's lock. Falls back to freeing in place if the thread cannot start.
class PinnedReleaser {
 public:
  static PinnedReleaser& instance() {
    static auto* r = new PinnedReleaser();  // never destroyed: its thread may be parked at exit
    return *r;
  }

  void release(void* p) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (started_) {
        blocks_.push_back(p);
        wake_.notify_one();
        return;
      }
    }
    free_now(p);
  }

 private:
  PinnedReleaser() {
    try {
      std::thread([this] { run(); }).detach();
      started_ = true;
    } catch (const std::system_error&) {
      started_ = false;
    }
  }

  static void free_now(void* p) {
    const DeviceScope scope(pinned_owner());
    if (cudaFreeHost(p) != cudaSuccess) (void)cudaGetLastError();
  }

  void run() {
    if (cudaSetDevice(pinned_owner()) != cudaSuccess) (void)cudaGetLastError();
    for (;;) {
      void* p = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return !blocks_.empty(); });
        p = blocks_.front();
        blocks_.pop_front();
      }
      if (cudaFreeHost(p) != cudaSuccess) (void)cudaGetLastError();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<void*> blocks_;
  bool started_ = false;
};

// The pool's release threshold counts everything it reserves, live
// allocations included: at each synchronization it gives back what it holds
// unused beyond that. At 7/8 of the GPU, freed memory stays cached for reuse
// (weights alone may take most of the GPU), while an eighth is left for
// memory outside the pool: lazily loaded kernels, cuBLASLt's workspace,
// other processes. MOEKIT_GPU_POOL_KEEP sets it in bytes.
uint64_t pool_release_threshold(uint64_t total_memory) {
  const uint64_t keep = parse_byte_size(std::getenv("MOEKIT_GPU_POOL_KEEP"), "MOEKIT_GPU_POOL_KEEP");
  return keep ? keep : total_memory - total_memory / 8;
}

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(const DeviceInfo& info) : Device(DeviceKind::Cuda, info.ordinal), info_(info) {
    const DeviceScope scope(info.ordinal);
    try {
      MOEKIT_CUDA_CHECK(cudaSetDevice(info.ordinal));
      MOEKIT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      cudaMemPoolProps props = {};
      props.allocType = cudaMemAllocationTypePinned;
      props.handleTypes = cudaMemHandleTypeNone;
      props.location.type = cudaMemLocationTypeDevice;
      props.location.id = info.ordinal;
      MOEKIT_CUDA_CHECK(cudaMemPoolCreate(&pool_, &props));
      // Keep freed memory in the pool for reuse, up to the threshold
      // (pool_release_threshold); all of it goes back to the driver when an
      // allocation would otherwise fail (release_cached).
      uint64_t threshold = pool_release_threshold(info.total_memory);
      MOEKIT_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &threshold));
      queue_stream_ = stream_;
      const int ordinal = info.ordinal;
      start_queue([this, ordinal] {
        const cudaError_t err = cudaSetDevice(ordinal);
        if (err != cudaSuccess) {
          set_thread_error(Error(ErrorCode::Cuda, std::string("CUDA error ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) +
                                                      " (selecting the GPU on its queue thread)"));
        }
      });
    } catch (...) {
      // A failed start must not leak what it made (a later call may retry).
      if (pool_) (void)cudaMemPoolDestroy(pool_);
      if (stream_) (void)cudaStreamDestroy(stream_);
      (void)cudaGetLastError();
      throw;
    }
  }

  DeviceInfo info() const override { return info_; }

  cudaStream_t stream() const { return stream_; }

  // Whether this GPU and `other` can reach each other's memory; on the first
  // call for a pair, grants each access to the other's pool. Thread-safe.
  bool grant_peer(CudaDevice& other) {
    static std::mutex mutex;
    std::lock_guard<std::mutex> lock(mutex);
    auto known = peers_.find(other.ordinal());
    if (known != peers_.end()) return known->second;
    int there = 0, back = 0;
    bool ok = cudaDeviceCanAccessPeer(&there, ordinal(), other.ordinal()) == cudaSuccess &&
              cudaDeviceCanAccessPeer(&back, other.ordinal(), ordinal()) == cudaSuccess && there && back;
    if (ok) ok = other.allow_access_from(ordinal()) && allow_access_from(other.ordinal());
    (void)cudaGetLastError();
    peers_[other.ordinal()] = ok;
    other.peers_[ordinal()] = ok;
    return ok;
  }

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
    m->ordinal = info_.ordinal;
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
  // On any thread (the JS thread mostly): the device is made current for
  // the call only.
  void* raw_allocate(size_t bytes, bool) override {
    const DeviceScope scope(info_.ordinal);
    // Without the device current, the pool call would run in whatever
    // context the thread has, or open one on cuda:0.
    if (!scope.ok()) throw Error(ErrorCode::Cuda, id() + ": could not make the GPU current to allocate on it");
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
    const DeviceScope scope(info_.ordinal);
    if (!scope.ok() || cudaFreeAsync(data, stream_) != cudaSuccess) (void)cudaGetLastError();
  }

  void release_cached() override {
    const DeviceScope scope(info_.ordinal);
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
    const DeviceScope scope(info_.ordinal);
    uint64_t reserved = 0;
    if (cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved) == cudaSuccess) m.reserved = reserved;
    size_t free_bytes = 0, total_bytes = 0;
    if (scope.ok() && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      m.device_free = free_bytes;
      m.device_total = total_bytes;
    }
    (void)cudaGetLastError();
  }

 private:
  // Lets GPU `ordinal` read and write this device's pool allocations.
  bool allow_access_from(int ordinal) {
    const DeviceScope scope(info_.ordinal);
    cudaMemAccessDesc access = {};
    access.location.type = cudaMemLocationTypeDevice;
    access.location.id = ordinal;
    access.flags = cudaMemAccessFlagsProtReadWrite;
    return scope.ok() && cudaMemPoolSetAccess(pool_, &access, 1) == cudaSuccess;
  }

  DeviceInfo info_;
  std::map<int, bool> peers_;  // under grant_peer's lock
  cudaStream_t stream_ = nullptr;
  cudaMemPool_t pool_ = nullptr;
};

// The two events of one peer copy: the destination's buffer is ready (its
// allocation is ordered on the destination stream), and the copy is done.
// Each is destroyed with its own GPU current.
struct PeerCopyEvents {
  int src_ordinal;
  int dst_ordinal;
  cudaEvent_t dst_ready = nullptr;  // recorded on the destination stream
  cudaEvent_t copied = nullptr;     // recorded on the source stream
  ~PeerCopyEvents() {
    if (dst_ready) {
      const DeviceScope scope(dst_ordinal);
      if (cudaEventDestroy(dst_ready) != cudaSuccess) (void)cudaGetLastError();
    }
    if (copied) {
      const DeviceScope scope(src_ordinal);
      if (cudaEventDestroy(copied) != cudaSuccess) (void)cudaGetLastError();
    }
  }
};

}  // namespace

bool enqueue_peer_copy(const StoragePtr& src, const StoragePtr& dst, size_t bytes) {
  if (bytes == 0) return false;  // nothing to copy: the plain path handles it
  auto& a = static_cast<CudaDevice&>(src->device());
  auto& b = static_cast<CudaDevice&>(dst->device());
  if (!a.grant_peer(b)) return false;
  auto events = std::make_shared<PeerCopyEvents>();
  events->src_ordinal = a.ordinal();
  events->dst_ordinal = b.ordinal();
  auto dst_ready = std::make_shared<Latch>();
  auto copied = std::make_shared<Latch>();
  // 1. The destination queue marks where its buffer is ready. The latch opens
  //    whatever happens, so the source queue never waits forever.
  b.enqueue([events, dst_ready](ExecContext& ctx) {
    struct Open {
      Latch& latch;
      ~Open() { latch.open(); }
    } open{*dst_ready};
    MOEKIT_CUDA_CHECK(cudaEventCreateWithFlags(&events->dst_ready, cudaEventDisableTiming));
    MOEKIT_CUDA_CHECK(cudaEventRecord(events->dst_ready, static_cast<cudaStream_t>(ctx.stream)));
  });
  // 2. The source queue copies once the source is produced and the buffer
  //    is ready; the source is freed later on this same stream, after the copy.
  a.enqueue("to", {{src}, {dst}, [dst_ready] { dst_ready->wait(); }, [copied] { copied->open(); }},
            [events, src, dst, bytes, src_ordinal = a.ordinal(), dst_ordinal = b.ordinal()](ExecContext& ctx) {
              if (!events->dst_ready) throw Error(ErrorCode::Cuda, "the destination GPU could not mark its buffer ready");
              const auto stream = static_cast<cudaStream_t>(ctx.stream);
              // The event first: if it could not be made after the copy was
              // issued, the destination could free and reuse its buffer
              // while the copy still writes it.
              MOEKIT_CUDA_CHECK(cudaEventCreateWithFlags(&events->copied, cudaEventDisableTiming));
              MOEKIT_CUDA_CHECK(cudaStreamWaitEvent(stream, events->dst_ready, 0));
              MOEKIT_CUDA_CHECK(cudaMemcpyPeerAsync(dst->data(), dst_ordinal, src->data(), src_ordinal, bytes, stream));
              MOEKIT_CUDA_CHECK(cudaEventRecord(events->copied, stream));
            });
  // 3. The destination queue's later work waits for the copy on the GPU.
  //    Holding dst here orders its free (on this stream) after the copy too.
  b.enqueue([events, copied, dst](ExecContext& ctx) {
    copied->wait();
    if (events->copied) MOEKIT_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(ctx.stream), events->copied, 0));
  });
  return true;
}

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
  const DeviceScope scope(pinned_owner());
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  return p;
}

void cuda_host_free_pinned(void* data) { PinnedReleaser::instance().release(data); }

}  // namespace moekit
