#include "cpu_device.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "../core/thread_pool.h"
#include "cuda_runtime_host.h"

namespace moekit {

namespace {

// Sizes are rounded to this many bytes (the block cache keys on sizes).
constexpr size_t HOST_ALIGNMENT = 64;
constexpr int64_t COPY_CHUNK_BYTES = 1 << 20;
constexpr size_t HUGE_PAGE_BYTES = size_t{2} << 20;
constexpr size_t HUGE_PAGE_MIN_BYTES = size_t{8} << 20;
// Freed large blocks kept for reuse, per kind (pageable, pinned): at most
// 1 GiB each, and at most 1/16 of the memory limit. memory().cached reports
// them; Device.releaseCache() frees them.
constexpr uint64_t HOST_CACHE_BYTES = uint64_t{1} << 30;
// Allocations from this size on are checked against the memory available
// now (reading it costs a few microseconds).
constexpr size_t CHECKED_ALLOCATION_BYTES = size_t{16} << 20;

uint64_t cache_capacity(uint64_t limit) { return std::min(HOST_CACHE_BYTES, limit / 16); }

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      const auto start = colon == std::string::npos ? std::string::npos : line.find_first_not_of(" \t", colon + 1);
      if (start != std::string::npos) return line.substr(start);
    }
  }
  return "CPU";
}

struct ClockMarker final : Marker {
  std::chrono::steady_clock::time_point at = std::chrono::steady_clock::now();
};

}  // namespace

void host_copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0 || dst == src) return;
  parallel_for(static_cast<int64_t>(bytes), COPY_CHUNK_BYTES, [&](int64_t begin, int64_t end) {
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin, static_cast<size_t>(end - begin));
  });
}

CpuDevice::CpuDevice(const HostMemory& memory)
    : Device(DeviceKind::Cpu, 0),
      memory_limit_(memory.limit),
      memory_limit_source_(memory.limit_source),
      pageable_cache_(cache_capacity(memory.limit), [](void* p) { std::free(p); }),
      pinned_cache_(cache_capacity(memory.limit), [](void* p) { cuda_host_free_pinned(p); }) {
  info_.kind = DeviceKind::Cpu;
  info_.ordinal = 0;
  info_.id = "cpu";
  info_.name = cpu_model_name();
  info_.total_memory = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  // The queue thread first: with a process limit on threads, it is the one
  // that must start; the pool then runs with whatever helpers it can get.
  start_queue(nullptr);
  info_.threads = cpu_threads_started();
}

DeviceInfo CpuDevice::info() const { return info_; }

void* CpuDevice::raw_allocate(size_t bytes, bool pinned) {
  // Linux overcommits: without this check a request far beyond what the
  // machine has would succeed and meet the OOM killer when touched.
  if (memory().bytes + bytes > memory_limit_) return nullptr;
  if (bytes >= CHECKED_ALLOCATION_BYTES) {
    const uint64_t cached = pageable_cache_.cached_bytes() + pinned_cache_.cached_bytes();
    if (bytes > read_host_memory().available + cached) return nullptr;
  }
  const size_t rounded = HostBlockCache::rounded((bytes + HOST_ALIGNMENT - 1) / HOST_ALIGNMENT * HOST_ALIGNMENT);
  HostBlockCache& cache = pinned ? pinned_cache_ : pageable_cache_;
  if (void* cached = cache.take(rounded)) return cached;
  if (pinned) return cuda_host_alloc_pinned(rounded);
  // Plain malloc (16-byte aligned) below the huge-page size: glibc's
  // aligned_alloc splits chunks around the alignment, and with buffers
  // freed on other threads that fragmented the heap without bound.
  if (rounded < HUGE_PAGE_MIN_BYTES) return std::malloc(rounded);
  // Large blocks on 2 MiB boundaries with transparent huge pages: first
  // touch faults in 2 MiB at a time instead of 4 KiB.
  const size_t huge = (rounded + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
  void* p = std::aligned_alloc(HUGE_PAGE_BYTES, huge);
  if (p) (void)madvise(p, huge, MADV_HUGEPAGE);
  return p;
}

void CpuDevice::raw_free(void* data, size_t bytes, bool pinned) {
  const size_t rounded = HostBlockCache::rounded((bytes + HOST_ALIGNMENT - 1) / HOST_ALIGNMENT * HOST_ALIGNMENT);
  (pinned ? pinned_cache_ : pageable_cache_).give(data, rounded);
}

void CpuDevice::release_cached() {
  pageable_cache_.trim(0);
  pinned_cache_.trim(0);
}

std::string CpuDevice::capacity_note() const {
  return "host memory limit " + std::to_string(memory_limit_) + " bytes, from " + memory_limit_source_;
}

void CpuDevice::add_pool_stats(MemoryStats& m) {
  m.cached = pageable_cache_.cached_bytes() + pinned_cache_.cached_bytes();
  m.limit = memory_limit_;
}

void CpuDevice::copy_to_host(ExecContext&, void* dst, const void* src, size_t bytes) { host_copy(dst, src, bytes); }
void CpuDevice::copy_from_host(ExecContext&, void* dst, const void* src, size_t bytes) { host_copy(dst, src, bytes); }
void CpuDevice::copy_within(ExecContext&, void* dst, const void* src, size_t bytes) { host_copy(dst, src, bytes); }

void CpuDevice::fill_bytes(ExecContext&, void* dst, int value, size_t bytes) {
  parallel_for(static_cast<int64_t>(bytes), COPY_CHUNK_BYTES, [&](int64_t begin, int64_t end) {
    std::memset(static_cast<char*>(dst) + begin, value, static_cast<size_t>(end - begin));
  });
}

std::unique_ptr<Marker> CpuDevice::record_marker(ExecContext&) { return std::make_unique<ClockMarker>(); }

double CpuDevice::elapsed_ms(const Marker& start, const Marker& end) {
  const auto& a = static_cast<const ClockMarker&>(start);
  const auto& b = static_cast<const ClockMarker&>(end);
  return std::chrono::duration<double, std::milli>(b.at - a.at).count();
}

}  // namespace moekit
