#include "cpu_device.h"

#include <sys/mman.h>
#include <unistd.h>

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
// Freed large blocks kept for reuse, per kind (pageable, pinned).
constexpr size_t HOST_CACHE_BYTES = size_t{1} << 30;

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

CpuDevice::CpuDevice()
    : Device(DeviceKind::Cpu, 0),
      pageable_cache_(HOST_CACHE_BYTES, [](void* p) { std::free(p); }),
      pinned_cache_(HOST_CACHE_BYTES, [](void* p) { cuda_host_free_pinned(p); }) {
  info_.kind = DeviceKind::Cpu;
  info_.ordinal = 0;
  info_.id = "cpu";
  info_.name = cpu_model_name();
  info_.total_memory = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  info_.threads = cpu_thread_count();
  start_queue(nullptr);
}

DeviceInfo CpuDevice::info() const { return info_; }

void* CpuDevice::raw_allocate(size_t bytes, bool pinned) {
  if (bytes > info_.total_memory) return nullptr;
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

void CpuDevice::retry_after_out_of_memory() {
  queue().drain();
  release_cached();
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
