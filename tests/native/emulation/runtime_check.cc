// The emulated CUDA runtime (cuda/emulation/runtime, engine/memory.cc,
// profile.cc) on its own, without the engine: its sources are compiled into
// this program and run_grid is a stand-in that runs each "thread" of a grid
// as a plain call of the launch's body. Checks the semantics the emulation
// promises (docs in each runtime file): stream order and asynchrony, copies
// that read host memory when they run, events and cross-stream waits, the
// legacy default stream's ordering, pools and their accounting, out of
// memory, sticky faults and their messages, launch checks, the arena's
// reports, implicit and strict current devices, the driver entry points,
// and teardown at exit (in child processes).
//
// Kernels that must not finish yet wait on a gate the check opens, so no
// result depends on timing.
#define MOEKIT_EMU_PROFILE_sm90a 1

#include "../../../cuda/emulation/engine/memory.cc"
#include "../../../cuda/emulation/profile.cc"
#include "../../../cuda/emulation/runtime/devices.cc"
#include "../../../cuda/emulation/runtime/driver.cc"
#include "../../../cuda/emulation/runtime/errors.cc"
#include "../../../cuda/emulation/runtime/launch.cc"
#include "../../../cuda/emulation/runtime/memory_api.cc"
#include "../../../cuda/emulation/runtime/streams.cc"

#include <cuda.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

extern char** environ;

// ---- the stand-in engine ---------------------------------------------------------
namespace moekit {
namespace emu {

bool run_grid(const GridLaunch& launch, KernelFault* fault) {
  if (launch.kernel == "faulting_kernel") {
    fault->code = cudaErrorIllegalAddress;
    fault->report = "faulting_kernel: block (0, 0, 0), thread (3, 0, 0): 4-byte store to 0x10 is not in the emulated GPU's memory";
    return false;
  }
  const uint64_t threads = launch.grid.count() * launch.block.count();
  for (uint64_t i = 0; i < threads; ++i) launch.body();
  return true;
}

}  // namespace emu
}  // namespace moekit

namespace {

using namespace moekit::emu;

int failures = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

#define CHECK_EQ(a, b)                                                                                         \
  do {                                                                                                         \
    const auto va_ = (a);                                                                                      \
    const auto vb_ = (b);                                                                                      \
    if (!(va_ == vb_)) {                                                                                       \
      std::printf("FAILED %s:%d: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #b, static_cast<long long>(va_), \
                  static_cast<long long>(vb_));                                                                \
      ++failures;                                                                                              \
    }                                                                                                          \
  } while (0)

// A gate kernels wait on, opened by the check.
struct Gate {
  std::atomic<bool> open{false};
  std::atomic<int> waiting{0};
  void wait() {
    waiting.fetch_add(1);
    while (!open.load()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
};

// Queues a one-thread kernel running `body` on `stream`.
template <typename Body>
cudaError_t launch(const char* name, cudaStream_t stream, Body body, size_t smem = 0, Dim3 grid = Dim3(), Dim3 block = Dim3()) {
  static int kernel_identity;  // stands for the kernel's function pointer
  GridLaunch l;
  l.kernel = name;
  l.grid = grid;
  l.block = block;
  l.dynamic_smem = smem;
  l.body = body;
  return launch_grid(&kernel_identity, l, stream);
}

void check_properties() {
  int count = 0;
  CHECK_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  CHECK_EQ(count, 2);  // MOEKIT_EMU_DEVICES=2, set by main
  cudaDeviceProp p;
  CHECK_EQ(cudaGetDeviceProperties(&p, 1), cudaSuccess);
  CHECK(std::strcmp(p.name, "NVIDIA H100 80GB HBM3 (emulated)") == 0);
  CHECK_EQ(p.major, 9);
  CHECK_EQ(p.minor, 0);
  CHECK_EQ(p.multiProcessorCount, 132);
  CHECK_EQ(p.sharedMemPerBlock, size_t{49152});
  CHECK_EQ(p.sharedMemPerBlockOptin, size_t{232448});
  CHECK_EQ(p.sharedMemPerMultiprocessor, size_t{233472});
  CHECK_EQ(p.reservedSharedMemPerBlock, size_t{1024});
  CHECK_EQ(p.totalGlobalMem, size_t{1} << 30);  // MOEKIT_EMU_DEVICE_MEMORY=1G
  CHECK_EQ(p.warpSize, 32);
  CHECK_EQ(p.maxThreadsPerBlock, 1024);
  CHECK_EQ(p.maxThreadsPerMultiProcessor, 2048);
  CHECK_EQ(p.regsPerMultiprocessor, 65536);
  CHECK_EQ(p.l2CacheSize, 50 << 20);
  CHECK_EQ(p.memoryPoolsSupported, 1);
  CHECK_EQ(cudaGetDeviceProperties(&p, 2), cudaErrorInvalidDevice);
  CHECK_EQ(cudaGetLastError(), cudaErrorInvalidDevice);
  CHECK_EQ(cudaGetLastError(), cudaSuccess);
  int v = 0;
  CHECK_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), cudaSuccess);
  CHECK_EQ(v, 232448);
  CHECK_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrClockRate, 0), cudaSuccess);
  CHECK_EQ(v, 1980000);
  CHECK_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrMemoryPoolsSupported, 0), cudaSuccess);
  CHECK_EQ(v, 1);
  CHECK_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 1), cudaSuccess);
  CHECK_EQ(v, 132);
  CHECK_EQ(cudaRuntimeGetVersion(&v), cudaSuccess);
  CHECK_EQ(v, 13000);
  CHECK_EQ(cudaDriverGetVersion(&v), cudaSuccess);
  CHECK_EQ(v, 13000);
  CHECK_EQ(cudaDeviceCanAccessPeer(&v, 0, 1), cudaSuccess);
  CHECK_EQ(v, 1);
  CHECK_EQ(cudaDeviceCanAccessPeer(&v, 1, 1), cudaSuccess);
  CHECK_EQ(v, 0);
  CHECK(std::strcmp(cudaGetErrorName(cudaErrorNotReady), "cudaErrorNotReady") == 0);
  CHECK(std::strcmp(cudaGetErrorString(cudaErrorMemoryAllocation), "out of memory") == 0);
  CHECK(std::strcmp(cudaGetErrorName(static_cast<cudaError_t>(12345)), "unrecognized error code") == 0);
}

void check_stream_order_and_async_copies() {
  cudaStream_t s = nullptr;
  CHECK_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  int* d = nullptr;
  CHECK_EQ(cudaMalloc(reinterpret_cast<void**>(&d), sizeof(int)), cudaSuccess);
  CHECK_EQ(reinterpret_cast<uintptr_t>(d) % 512, uintptr_t{256});  // 256-aligned, deliberately no more

  // The kernel waits on the gate; the copy behind it has not run.
  Gate gate;
  int host = 0;
  CHECK_EQ(launch("store_kernel", s, [&gate, d] { gate.wait(); *d = 1; }), cudaSuccess);
  CHECK_EQ(cudaMemcpyAsync(&host, d, sizeof(int), cudaMemcpyDeviceToHost, s), cudaSuccess);
  CHECK_EQ(cudaStreamQuery(s), cudaErrorNotReady);
  CHECK_EQ(cudaGetLastError(), cudaSuccess);  // NotReady is not an error
  CHECK_EQ(host, 0);
  gate.open = true;
  CHECK_EQ(cudaStreamSynchronize(s), cudaSuccess);
  CHECK_EQ(host, 1);
  CHECK_EQ(cudaStreamQuery(s), cudaSuccess);

  // A host-to-device copy reads its source when it runs, not when queued.
  Gate gate2;
  int source = 5;
  CHECK_EQ(launch("wait_kernel", s, [&gate2] { gate2.wait(); }), cudaSuccess);
  CHECK_EQ(cudaMemcpyAsync(d, &source, sizeof(int), cudaMemcpyHostToDevice, s), cudaSuccess);
  source = 7;
  gate2.open = true;
  CHECK_EQ(cudaMemcpyAsync(&host, d, sizeof(int), cudaMemcpyDeviceToHost, s), cudaSuccess);
  CHECK_EQ(cudaStreamSynchronize(s), cudaSuccess);
  CHECK_EQ(host, 7);

  // Memset, then call-time range checks (non-sticky cudaErrorInvalidValue).
  CHECK_EQ(cudaMemsetAsync(d, 0xAB, sizeof(int), s), cudaSuccess);
  CHECK_EQ(cudaMemcpyAsync(&host, d, sizeof(int), cudaMemcpyDeviceToHost, s), cudaSuccess);
  CHECK_EQ(cudaStreamSynchronize(s), cudaSuccess);
  CHECK_EQ(static_cast<unsigned>(host), 0xABABABABu);
  CHECK_EQ(cudaMemcpyAsync(&host, d, 2 * sizeof(int), cudaMemcpyDeviceToHost, s), cudaErrorInvalidValue);
  CHECK_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  CHECK_EQ(cudaGetLastError(), cudaSuccess);
  CHECK_EQ(cudaMemcpyAsync(d, &host, sizeof(int), cudaMemcpyDeviceToDevice, s), cudaErrorInvalidValue);  // &host is not device memory
  CHECK_EQ(cudaMemsetAsync(&host, 0, sizeof(int), s), cudaErrorInvalidValue);
  CHECK_EQ(cudaMemcpyAsync(&host, d, sizeof(int), static_cast<cudaMemcpyKind>(9), s), cudaErrorInvalidMemcpyDirection);
  (void)cudaGetLastError();

  CHECK_EQ(cudaFree(d), cudaSuccess);
  CHECK_EQ(cudaFree(d), cudaErrorInvalidValue);
  CHECK_EQ(cudaMemcpyAsync(&host, d, sizeof(int), cudaMemcpyDeviceToHost, s), cudaErrorInvalidValue);  // freed
  (void)cudaGetLastError();
  CHECK_EQ(cudaStreamDestroy(s), cudaSuccess);
  CHECK_EQ(cudaStreamQuery(s), cudaErrorInvalidResourceHandle);
  (void)cudaGetLastError();
}

void check_events() {
  cudaStream_t a = nullptr, b = nullptr;
  CHECK_EQ(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking), cudaSuccess);
  CHECK_EQ(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking), cudaSuccess);
  int* d = nullptr;
  CHECK_EQ(cudaMalloc(reinterpret_cast<void**>(&d), sizeof(int)), cudaSuccess);
  CHECK_EQ(cudaMemset(d, 0, sizeof(int)), cudaSuccess);
  cudaEvent_t produced = nullptr, start = nullptr, stop = nullptr, untimed = nullptr;
  CHECK_EQ(cudaEventCreate(&produced), cudaSuccess);
  CHECK_EQ(cudaEventCreate(&start), cudaSuccess);
  CHECK_EQ(cudaEventCreate(&stop), cudaSuccess);
  CHECK_EQ(cudaEventCreateWithFlags(&untimed, cudaEventDisableTiming), cudaSuccess);

  float ms = 0;
  CHECK_EQ(cudaEventElapsedTime(&ms, start, stop), cudaErrorInvalidResourceHandle);  // never recorded
  (void)cudaGetLastError();
  CHECK_EQ(cudaEventQuery(produced), cudaSuccess);  // nothing recorded: complete

  // Without a wait, stream b does not see what stream a has not produced yet:
  // a missing synchronisation gives the wrong value.
  Gate gate;
  CHECK_EQ(cudaEventRecord(start, a), cudaSuccess);
  CHECK_EQ(launch("produce_kernel", a, [&gate, d] { gate.wait(); *d = 42; }), cudaSuccess);
  CHECK_EQ(cudaEventRecord(produced, a), cudaSuccess);
  CHECK_EQ(cudaEventRecord(stop, a), cudaSuccess);
  CHECK_EQ(cudaEventRecord(untimed, a), cudaSuccess);
  int unsynchronised = -1;
  CHECK_EQ(cudaMemcpyAsync(&unsynchronised, d, sizeof(int), cudaMemcpyDeviceToHost, b), cudaSuccess);
  CHECK_EQ(cudaStreamSynchronize(b), cudaSuccess);
  CHECK_EQ(unsynchronised, 0);
  CHECK_EQ(cudaEventQuery(produced), cudaErrorNotReady);
  CHECK_EQ(cudaEventElapsedTime(&ms, start, stop), cudaErrorNotReady);

  // With the wait it does.
  int synchronised = -1;
  CHECK_EQ(cudaStreamWaitEvent(b, produced, 0), cudaSuccess);
  CHECK_EQ(cudaMemcpyAsync(&synchronised, d, sizeof(int), cudaMemcpyDeviceToHost, b), cudaSuccess);
  CHECK_EQ(cudaStreamQuery(b), cudaErrorNotReady);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  gate.open = true;
  CHECK_EQ(cudaStreamSynchronize(b), cudaSuccess);
  CHECK_EQ(synchronised, 42);
  CHECK_EQ(cudaEventSynchronize(stop), cudaSuccess);
  CHECK_EQ(cudaEventQuery(produced), cudaSuccess);
  CHECK_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
  CHECK(ms >= 25.0f && ms < 60000.0f);
  CHECK_EQ(cudaEventElapsedTime(&ms, start, untimed), cudaErrorInvalidResourceHandle);
  (void)cudaGetLastError();

  // An event records only in streams of its own device.
  CHECK_EQ(cudaSetDevice(1), cudaSuccess);
  cudaStream_t other = nullptr;
  CHECK_EQ(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking), cudaSuccess);
  CHECK_EQ(cudaEventRecord(produced, other), cudaErrorInvalidResourceHandle);
  (void)cudaGetLastError();
  CHECK_EQ(cudaStreamDestroy(other), cudaSuccess);
  CHECK_EQ(cudaSetDevice(0), cudaSuccess);

  for (cudaEvent_t e : {produced, start, stop, untimed}) CHECK_EQ(cudaEventDestroy(e), cudaSuccess);
  CHECK_EQ(cudaEventDestroy(produced), cudaErrorInvalidResourceHandle);
  (void)cudaGetLastError();
  CHECK_EQ(cudaFree(d), cudaSuccess);
  CHECK_EQ(cudaStreamDestroy(a), cudaSuccess);
  CHECK_EQ(cudaStreamDestroy(b), cudaSuccess);
}

void check_legacy_stream() {
  cudaStream_t blocking = nullptr, non_blocking = nullptr;
  CHECK_EQ(cudaStreamCreate(&blocking), cudaSuccess);
  CHECK_EQ(cudaStreamCreateWithFlags(&non_blocking, cudaStreamNonBlocking), cudaSuccess);
  int* d = nullptr;
  CHECK_EQ(cudaMalloc(reinterpret_cast<void**>(&d), sizeof(int)), cudaSuccess);
  CHECK_EQ(cudaMemset(d, 0, sizeof(int)), cudaSuccess);

  // The legacy stream waits for a blocking stream's earlier work...
  Gate gate;
  CHECK_EQ(launch("blocking_kernel", blocking, [&gate, d] { gate.wait(); *d = 3; }), cudaSuccess);
  int seen_by_non_blocking = -1, seen_by_legacy = -1;
  CHECK_EQ(cudaMemcpyAsync(&seen_by_legacy, d, sizeof(int), cudaMemcpyDeviceToHost, nullptr), cudaSuccess);
  // ...a non-blocking stream does not.
  CHECK_EQ(cudaMemcpyAsync(&seen_by_non_blocking, d, sizeof(int), cudaMemcpyDeviceToHost, non_blocking), cudaSuccess);
  CHECK_EQ(cudaStreamSynchronize(non_blocking), cudaSuccess);
  CHECK_EQ(seen_by_non_blocking, 0);
  CHECK_EQ(cudaStreamQuery(nullptr), cudaErrorNotReady);
  gate.open = true;
  CHECK_EQ(cudaStreamSynchronize(nullptr), cudaSuccess);
  CHECK_EQ(seen_by_legacy, 3);

  // And a blocking stream waits for the legacy stream's earlier work.
  Gate gate2;
  CHECK_EQ(launch("legacy_kernel", nullptr, [&gate2, d] { gate2.wait(); *d = 4; }), cudaSuccess);
  int seen_by_blocking = -1;
  CHECK_EQ(cudaMemcpyAsync(&seen_by_blocking, d, sizeof(int), cudaMemcpyDeviceToHost, blocking), cudaSuccess);
  CHECK_EQ(cudaStreamQuery(blocking), cudaErrorNotReady);
  gate2.open = true;
  CHECK_EQ(cudaStreamSynchronize(blocking), cudaSuccess);
  CHECK_EQ(seen_by_blocking, 4);
  CHECK_EQ(cudaFree(d), cudaSuccess);
  CHECK_EQ(cudaStreamDestroy(blocking), cudaSuccess);
  CHECK_EQ(cudaStreamDestroy(non_blocking), cudaSuccess);
}

uint64_t pool_attr(cudaMemPool_t pool, cudaMemPoolAttr attr) {
  uint64_t v = ~uint64_t{0};
  CHECK_EQ(cudaMemPoolGetAttribute(pool, attr, &v), cudaSuccess);
  return v;
}

void check_pools_and_out_of_memory() {
  constexpr uint64_t MiB = uint64_t{1} << 20;
  cudaStream_t s = nullptr;
  CHECK_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  cudaMemPoolProps props = {};
  props.allocType = cudaMemAllocationTypePinned;
  props.handleTypes = cudaMemHandleTypeNone;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = 0;
  cudaMemPool_t pool = nullptr;
  CHECK_EQ(cudaMemPoolCreate(&pool, &props), cudaSuccess);
  uint64_t threshold = 512 * MiB;
  CHECK_EQ(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold), cudaSuccess);
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrReleaseThreshold), 512 * MiB);
  cudaMemAccessDesc access = {};
  access.location.type = cudaMemLocationTypeDevice;
  access.location.id = 1;
  access.flags = cudaMemAccessFlagsProtReadWrite;
  CHECK_EQ(cudaMemPoolSetAccess(pool, &access, 1), cudaSuccess);
  access.location.id = 0;
  access.flags = cudaMemAccessFlagsProtNone;
  CHECK_EQ(cudaMemPoolSetAccess(pool, &access, 1), cudaErrorInvalidValue);  // the owner keeps its access
  (void)cudaGetLastError();

  void* p = nullptr;
  CHECK_EQ(cudaMallocFromPoolAsync(&p, 100 * MiB, pool, s), cudaSuccess);
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrUsedMemCurrent), 100 * MiB);
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrReservedMemCurrent), 100 * MiB);
  size_t free_bytes = 0, total = 0;
  CHECK_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  CHECK_EQ(total, size_t{1} << 30);
  CHECK_EQ(free_bytes, total - 100 * MiB);

  // The free happens when the stream reaches it.
  Gate gate;
  CHECK_EQ(launch("hold_kernel", s, [&gate] { gate.wait(); }), cudaSuccess);
  CHECK_EQ(cudaFreeAsync(p, s), cudaSuccess);
  CHECK_EQ(cudaFreeAsync(p, s), cudaErrorInvalidValue);  // a second free of it
  (void)cudaGetLastError();
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrUsedMemCurrent), 100 * MiB);
  CHECK(find_allocation(p, 1, nullptr, nullptr));
  gate.open = true;
  CHECK_EQ(cudaStreamSynchronize(s), cudaSuccess);
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrUsedMemCurrent), uint64_t{0});
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrReservedMemCurrent), 100 * MiB);  // kept: below the threshold
  std::string why;
  CHECK(!find_allocation(p, 1, nullptr, &why));
  CHECK(why.find("has been freed") != std::string::npos);

  // Kept memory is reused before more is reserved.
  void* q = nullptr;
  CHECK_EQ(cudaMallocFromPoolAsync(&q, 60 * MiB, pool, s), cudaSuccess);
  CHECK(q != p);  // fresh addresses all the same
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrReservedMemCurrent), 100 * MiB);
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrUsedMemHigh), 100 * MiB);
  uint64_t zero = 0, one = 1;
  CHECK_EQ(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero), cudaSuccess);
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrUsedMemHigh), 60 * MiB);
  CHECK_EQ(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &one), cudaErrorInvalidValue);
  (void)cudaGetLastError();
  CHECK_EQ(cudaMemPoolTrimTo(pool, 0), cudaSuccess);
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrReservedMemCurrent), 60 * MiB);

  // Out of memory (1 GiB per device here) is not sticky; memory the pool keeps counts.
  void* big = nullptr;
  CHECK_EQ(cudaMallocFromPoolAsync(&big, 1000 * MiB, pool, s), cudaErrorMemoryAllocation);
  CHECK_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
  CHECK_EQ(cudaGetLastError(), cudaSuccess);
  CHECK_EQ(cudaMallocFromPoolAsync(&big, 1000 * MiB, pool, s), cudaErrorMemoryAllocation);
  (void)cudaGetLastError();
  CHECK_EQ(cudaFreeAsync(q, s), cudaSuccess);
  CHECK_EQ(cudaStreamSynchronize(s), cudaSuccess);
  threshold = 0;
  CHECK_EQ(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold), cudaSuccess);
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrReservedMemCurrent), 60 * MiB);  // given back at the next synchronisation
  CHECK_EQ(cudaStreamSynchronize(s), cudaSuccess);
  CHECK_EQ(pool_attr(pool, cudaMemPoolAttrReservedMemCurrent), uint64_t{0});
  CHECK_EQ(cudaMallocFromPoolAsync(&big, 1000 * MiB, pool, s), cudaSuccess);
  CHECK_EQ(cudaFreeAsync(big, s), cudaSuccess);
  CHECK_EQ(cudaStreamSynchronize(s), cudaSuccess);
  CHECK_EQ(cudaMemPoolDestroy(pool), cudaSuccess);
  CHECK_EQ(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &zero), cudaErrorInvalidValue);
  (void)cudaGetLastError();

  // Pinned host memory.
  void* pinned = nullptr;
  CHECK_EQ(cudaHostAlloc(&pinned, 4096, cudaHostAllocPortable), cudaSuccess);
  Allocation a;
  CHECK(find_allocation(pinned, 4096, &a, nullptr));
  CHECK(a.kind == MemoryKind::Pinned);
  std::memset(pinned, 1, 4096);
  CHECK_EQ(cudaFreeHost(pinned), cudaSuccess);
  CHECK_EQ(cudaFreeHost(pinned), cudaErrorInvalidValue);
  (void)cudaGetLastError();
  CHECK_EQ(cudaStreamDestroy(s), cudaSuccess);
}

void check_arena_reports() {
  void* p = arena_allocate(4096, MemoryKind::Device, 0);
  CHECK(p != nullptr);
  CHECK(in_arena(p));
  const auto* b = static_cast<const char*>(p);
  Allocation a;
  std::string why;
  CHECK(find_allocation(b + 4092, 4, &a, &why));
  CHECK_EQ(a.base, reinterpret_cast<uintptr_t>(p));
  CHECK_EQ(a.size, size_t{4096});
  CHECK(!find_allocation(b + 4092, 8, nullptr, &why));
  CHECK(why.find("runs 4 bytes past the end of a 4096-byte device allocation on cuda:0") != std::string::npos);
  CHECK(!find_allocation(b + 4100, 4, nullptr, &why));
  CHECK(why.find("is 4 bytes past the end of") != std::string::npos);
  CHECK(!find_allocation(b - 16, 4, nullptr, &why));
  CHECK(why.find("16 bytes before the start of") != std::string::npos);
  int local = 0;
  CHECK(!find_allocation(&local, 4, nullptr, &why));
  CHECK(why.find("not in the emulated GPU's memory") != std::string::npos);
  CHECK(arena_free(p));
  CHECK(!arena_free(p));
  CHECK(!find_allocation(p, 4, nullptr, &why));
  CHECK(why.find("that has been freed") != std::string::npos);

  // A free while an access is open keeps the pages mapped until it closes.
  char* q = static_cast<char*>(arena_allocate(100, MemoryKind::Device, 0));
  const uint64_t token = rt::arena_access_begin();
  CHECK(arena_free(q));
  q[0] = 1;  // still mapped: no fault (the engine reports the access instead)
  rt::arena_access_end(token);
}

void check_launches_and_sticky_faults() {
  cudaStream_t s0 = nullptr, s1 = nullptr;
  CHECK_EQ(cudaStreamCreateWithFlags(&s0, cudaStreamNonBlocking), cudaSuccess);
  CHECK_EQ(launch("k", s0, [] {}, 0, Dim3{0, 1, 1}), cudaErrorInvalidConfiguration);
  CHECK_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  CHECK_EQ(launch("k", s0, [] {}, 0, Dim3{1, 65536, 1}), cudaErrorInvalidConfiguration);
  CHECK_EQ(launch("k", s0, [] {}, 0, Dim3(), Dim3{1025, 1, 1}), cudaErrorInvalidConfiguration);
  CHECK_EQ(launch("k", s0, [] {}, 0, Dim3(), Dim3{32, 32, 2}), cudaErrorInvalidConfiguration);
  CHECK_EQ(launch("k", s0, [] {}, 0, Dim3(), Dim3{1, 1, 65}), cudaErrorInvalidConfiguration);
  CHECK_EQ(launch("k", s0, [] {}, 48 * 1024 + 1), cudaErrorInvalidValue);
  CHECK_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  std::atomic<int> runs{0};
  CHECK_EQ(launch("k", s0, [&runs] { runs.fetch_add(1); }, 48 * 1024, Dim3{2, 1, 1}, Dim3{4, 1, 1}), cudaSuccess);
  CHECK_EQ(cudaStreamSynchronize(s0), cudaSuccess);
  CHECK_EQ(runs.load(), 8);

  // cudaFuncSetAttribute raises a kernel's limit, up to the opt-in maximum.
  static int kernel_identity_other;
  GridLaunch big;
  big.kernel = "big_smem_kernel";
  big.dynamic_smem = 200 * 1024;
  big.body = [] {};
  CHECK_EQ(launch_grid(&kernel_identity_other, big, s0), cudaErrorInvalidValue);
  CHECK_EQ(cudaFuncSetAttribute(&kernel_identity_other, cudaFuncAttributeMaxDynamicSharedMemorySize, 232448 + 1),
           cudaErrorInvalidValue);
  CHECK_EQ(cudaFuncSetAttribute(&kernel_identity_other, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024), cudaSuccess);
  CHECK_EQ(launch_grid(&kernel_identity_other, big, s0), cudaSuccess);
  (void)cudaGetLastError();

  // A launch into another device's stream.
  CHECK_EQ(cudaSetDevice(1), cudaSuccess);
  CHECK_EQ(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking), cudaSuccess);
  CHECK_EQ(launch("k", s0, [] {}), cudaErrorInvalidResourceHandle);
  (void)cudaGetLastError();

  // A use after free ordered by the stream: valid when queued, freed when it
  // runs: the device faults (sticky).
  int* d = nullptr;
  void* raw = nullptr;
  cudaMemPool_t pool = nullptr;
  CHECK_EQ(cudaDeviceGetDefaultMemPool(&pool, 1), cudaSuccess);
  CHECK_EQ(cudaMallocFromPoolAsync(&raw, sizeof(int), pool, s1), cudaSuccess);
  d = static_cast<int*>(raw);
  int host = 0;
  Gate gate;
  CHECK_EQ(launch("hold_kernel", s1, [&gate] { gate.wait(); }), cudaSuccess);
  CHECK_EQ(cudaFreeAsync(d, s1), cudaSuccess);
  CHECK_EQ(cudaMemcpyAsync(&host, d, sizeof(int), cudaMemcpyDeviceToHost, s1), cudaSuccess);
  gate.open = true;
  const cudaError_t late = cudaStreamSynchronize(s1);
  CHECK_EQ(late, cudaErrorIllegalAddress);
  CHECK(std::strstr(cudaGetErrorString(late), "has been freed") != nullptr);

  // A kernel fault on device 0, reported when the stream is next looked at, as a GPU reports it.
  CHECK_EQ(cudaSetDevice(0), cudaSuccess);
  CHECK_EQ(launch("faulting_kernel", s0, [] {}), cudaSuccess);  // reported later, as a GPU does
  CHECK_EQ(cudaStreamSynchronize(s0), cudaErrorIllegalAddress);
  CHECK_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  CHECK_EQ(cudaGetLastError(), cudaErrorIllegalAddress);  // not cleared
  CHECK_EQ(cudaStreamQuery(s0), cudaErrorIllegalAddress);
  CHECK_EQ(launch("k", s0, [] {}), cudaErrorIllegalAddress);
  void* more = nullptr;
  CHECK_EQ(cudaMalloc(&more, 16), cudaErrorIllegalAddress);
  cudaEvent_t ev = nullptr;
  CHECK_EQ(cudaEventCreate(&ev), cudaErrorIllegalAddress);
  CHECK_EQ(cudaMemsetAsync(nullptr, 0, 4, s0), cudaErrorIllegalAddress);
  const char* message = cudaGetErrorString(cudaErrorIllegalAddress);
  CHECK(std::strstr(message, "an illegal memory access was encountered: faulting_kernel: block (0, 0, 0), thread (3, 0, 0)") ==
        message);
  CHECK(std::strcmp(cudaGetErrorName(cudaErrorIllegalAddress), "cudaErrorIllegalAddress") == 0);
}

// A thread that never selected a device.
void check_implicit_device() {
  const unsigned long before = moekit_emu_implicit_device_uses();
  std::thread([] {
    int count = 0;
    cudaDeviceProp p;
    int v = 0;
    CHECK_EQ(cudaGetDeviceCount(&count), cudaSuccess);  // queries need no context: not counted
    CHECK_EQ(cudaGetDeviceProperties(&p, 0), cudaSuccess);
    CHECK_EQ(cudaDeviceGetAttribute(&v, cudaDevAttrWarpSize, 0), cudaSuccess);
    (void)cudaGetLastError();
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    CHECK_EQ(cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &fn, 12000, cudaEnableDefault, &found), cudaSuccess);
    CHECK(found == cudaDriverEntryPointSuccess);
    auto get = reinterpret_cast<CUresult (*)(CUcontext*)>(fn);
    CHECK_EQ(cudaGetDriverEntryPointByVersion("cuCtxSetCurrent", &fn, 12000, cudaEnableDefault, &found), cudaSuccess);
    auto set = reinterpret_cast<CUresult (*)(CUcontext)>(fn);
    CUcontext ctx = reinterpret_cast<CUcontext>(1);
    CHECK_EQ(get(&ctx), CUDA_SUCCESS);
    CHECK(ctx == nullptr);

    // Device 1 through a scope that puts back "none" (the addon's DeviceScope).
    CHECK_EQ(cudaSetDevice(1), cudaSuccess);
    CUcontext one = nullptr;
    CHECK_EQ(get(&one), CUDA_SUCCESS);
    CHECK(one != nullptr);
    CHECK_EQ(set(nullptr), CUDA_SUCCESS);
    CHECK_EQ(get(&ctx), CUDA_SUCCESS);
    CHECK(ctx == nullptr);
    CHECK_EQ(set(one), CUDA_SUCCESS);
    int d = -1;
    CHECK_EQ(cudaGetDevice(&d), cudaSuccess);
    CHECK_EQ(d, 1);
    CHECK_EQ(set(nullptr), CUDA_SUCCESS);
  }).join();
  CHECK_EQ(moekit_emu_implicit_device_uses(), before);

  // Calls that need a context use device 0, counted each time.
  std::thread([] {
    cudaStream_t s = nullptr;
    CHECK_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    CHECK_EQ(cudaStreamQuery(s), cudaSuccess);
  }).join();
  CHECK_EQ(moekit_emu_implicit_device_uses(), before + 2);
}

void check_driver_entry_points() {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSuccess;
  CHECK_EQ(cudaGetDriverEntryPointByVersion("cuNoSuchFunction", &fn, 12000, cudaEnableDefault, &found), cudaSuccess);
  CHECK(fn == nullptr);
  CHECK(found == cudaDriverEntryPointSymbolNotFound);
  CHECK_EQ(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 11080, cudaEnableDefault, &found), cudaSuccess);
  CHECK(fn == nullptr);
  CHECK(found == cudaDriverEntryPointVersionNotSufficent);
  CHECK_EQ(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 13010, cudaEnableDefault, &found), cudaErrorInvalidValue);
  (void)cudaGetLastError();
  CHECK_EQ(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found), cudaSuccess);
  CHECK(found == cudaDriverEntryPointSuccess);
  using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*,
                                   const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                   CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  auto encode = reinterpret_cast<EncodeTiled>(fn);

  CHECK_EQ(cudaSetDevice(1), cudaSuccess);  // device 0 faulted above; tensor maps need no device
  void* matrix = arena_allocate(256 * 512, MemoryKind::Device, 1);
  const cuuint64_t dims[2] = {512, 256};
  const cuuint64_t strides[1] = {512};
  const cuuint32_t box[2] = {128, 64};
  const cuuint32_t element_strides[2] = {1, 1};
  CUtensorMap map;
  CHECK_EQ(encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, matrix, dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                  CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
           CUDA_SUCCESS);
  ptx::TensorMap decoded;
  std::memcpy(&decoded, &map, sizeof decoded);
  CHECK_EQ(decoded.magic, ptx::TENSOR_MAP_MAGIC);
  CHECK_EQ(decoded.rank, 2u);
  CHECK_EQ(decoded.global_address, reinterpret_cast<uint64_t>(matrix));
  CHECK_EQ(decoded.box_dim[0], 128u);
  const cuuint32_t bad_box[2] = {0, 64};
  CHECK_EQ(encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, matrix, dims, strides, bad_box, element_strides,
                  CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
           CUDA_ERROR_INVALID_VALUE);
  CHECK(arena_free(matrix));
}

// ---- child processes ------------------------------------------------------------------
struct ChildResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

ChildResult run_child(const char* mode, const char* strict) {
  ChildResult r;
  int pipefd[2];
  if (pipe(pipefd) != 0) return r;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
  posix_spawn_file_actions_addclose(&actions, pipefd[0]);
  std::string strict_env = std::string("MOEKIT_EMU_STRICT_DEVICE=") + strict;
  std::vector<char*> env;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "MOEKIT_EMU_STRICT_DEVICE=", 25) != 0) env.push_back(*e);
  }
  env.push_back(strict_env.data());
  env.push_back(nullptr);
  char self[] = "/proc/self/exe";
  char child_flag[] = "--child";
  std::string mode_text = mode;
  char* argv[] = {self, child_flag, mode_text.data(), nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv, env.data());
  posix_spawn_file_actions_destroy(&actions);
  close(pipefd[1]);
  if (spawned != 0) {
    close(pipefd[0]);
    return r;
  }
  char buffer[4096];
  ssize_t n = 0;
  while ((n = read(pipefd[0], buffer, sizeof buffer)) > 0) r.output.append(buffer, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Child "implicit" / "strict": two context calls on a thread with no device.
int child_implicit(bool strict) {
  cudaStream_t s = nullptr;
  const cudaError_t first = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  const cudaError_t second = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  const cudaError_t expected = strict ? cudaErrorInvalidDevice : cudaSuccess;
  std::printf("uses %lu\n", moekit_emu_implicit_device_uses());
  return first == expected && second == expected && moekit_emu_implicit_device_uses() == 2 ? 0 : 1;
}

// Child "exit": the ordering at exit. A handler registered before the
// runtime's first use runs after its teardown; one registered after runs
// before it (the addon's, which stops its queues while the runtime works).
std::atomic<int> kernels_run{0};
std::atomic<bool> first_started{false};
Gate exit_gate;
cudaStream_t exit_stream = nullptr;

void after_teardown() {
  const cudaError_t e = cudaStreamQuery(exit_stream);
  std::printf("after teardown: %s, kernels run %d\n", cudaGetErrorName(e), kernels_run.load());
  std::fflush(stdout);
  _exit(e == cudaErrorCudartUnloading && kernels_run.load() == 1 ? 0 : 1);
}

void before_teardown() {
  const cudaError_t e = cudaStreamQuery(exit_stream);
  std::printf("before teardown: %s\n", cudaGetErrorName(e));
  std::fflush(stdout);
  if (e != cudaErrorNotReady) _exit(1);
  exit_gate.open = true;  // the running kernel may finish now (200 ms later); the teardown waits for it
}

int child_exit() {
  std::atexit(after_teardown);
  CHECK_EQ(cudaSetDevice(0), cudaSuccess);  // the runtime's first use: its teardown is registered here
  std::atexit(before_teardown);
  CHECK_EQ(cudaStreamCreateWithFlags(&exit_stream, cudaStreamNonBlocking), cudaSuccess);
  for (int i = 0; i < 3; ++i) {
    CHECK_EQ(launch("slow_kernel", exit_stream,
                    [] {
                      first_started = true;
                      exit_gate.wait();
                      std::this_thread::sleep_for(std::chrono::milliseconds(200));
                      kernels_run.fetch_add(1);
                    }),
             cudaSuccess);
  }
  while (!first_started.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return failures == 0 ? 0 : 1;  // exit: the running kernel finishes, the two queued are dropped
}

}  // namespace

int main(int argc, char** argv) {
  setenv("MOEKIT_EMU_DEVICES", "2", 1);
  setenv("MOEKIT_EMU_DEVICE_MEMORY", "1G", 1);
  if (argc >= 3 && std::strcmp(argv[1], "--child") == 0) {
    const std::string mode = argv[2];
    if (mode == "implicit") return child_implicit(false);
    if (mode == "strict") return child_implicit(true);
    if (mode == "exit") return child_exit();
    return 2;
  }
  unsetenv("MOEKIT_EMU_STRICT_DEVICE");

  // Children first, while this process has no threads of its own.
  const ChildResult implicit = run_child("implicit", "0");
  CHECK_EQ(implicit.status, 0);
  CHECK_EQ(occurrences(implicit.output, "on a thread with no current device: device 0 used implicitly"), size_t{1});
  CHECK(implicit.output.find("moekit emulation: cudaStreamCreateWithFlags on a thread with no current device") != std::string::npos);
  const ChildResult strict = run_child("strict", "1");
  CHECK_EQ(strict.status, 0);
  CHECK_EQ(occurrences(strict.output, "failed with cudaErrorInvalidDevice (MOEKIT_EMU_STRICT_DEVICE=1)"), size_t{1});
  const ChildResult exiting = run_child("exit", "0");
  CHECK_EQ(exiting.status, 0);
  CHECK(exiting.output.find("before teardown: cudaErrorNotReady") != std::string::npos);
  CHECK(exiting.output.find("after teardown: cudaErrorCudartUnloading, kernels run 1") != std::string::npos);
  if (failures) std::printf("child output:\n%s\n%s\n%s\n", implicit.output.c_str(), strict.output.c_str(), exiting.output.c_str());

  CHECK_EQ(cudaSetDevice(0), cudaSuccess);
  check_properties();
  check_implicit_device();
  check_stream_order_and_async_copies();
  check_events();
  check_legacy_stream();
  check_pools_and_out_of_memory();
  check_arena_reports();
  check_launches_and_sticky_faults();  // faults both devices: keep last but one
  check_driver_entry_points();

  if (failures) {
    std::printf("%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("emulated runtime: all checks passed\n");
  return 0;
}
