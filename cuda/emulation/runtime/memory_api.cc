// Device memory, memory pools, pinned host memory, copies and memsets.
//
// - Memory comes from the arena (engine/memory.h): fresh addresses for
//   every allocation, so a use after free is an error rather than a read
//   of someone else's data.
// - Each device holds device_memory_capacity() bytes (the profile's, or
//   MOEKIT_EMU_DEVICE_MEMORY). What counts against it is what the pools
//   reserve (their live allocations plus the freed memory they keep) and
//   what cudaMalloc handed out. An allocation beyond it fails with
//   cudaErrorMemoryAllocation, which is not sticky.
// - Pools: cudaMallocFromPoolAsync allocates at once (new memory satisfies
//   the stream ordering by itself) and cudaFreeAsync frees when the stream
//   reaches it. A pool reuses the freed memory it keeps before reserving
//   more. At a synchronisation (stream, event, device) it gives back what it
//   keeps beyond its release threshold (cudaMemPoolAttrReleaseThreshold,
//   default 0); cudaMemPoolTrimTo gives back unused memory down to the
//   number of bytes asked for. Reserved and used bytes, current and high,
//   are reported as CUDA reports them.
// - cudaMemcpyAsync, cudaMemcpyPeerAsync and cudaMemsetAsync check their
//   device ranges when called (an address that is not device memory where
//   the direction needs it, a range outside its allocation: the call fails
//   with cudaErrorInvalidValue, as CUDA's driver checks pointers) and again
//   when they run: a range that was freed in between (a free ordered before
//   the copy) faults the device with cudaErrorIllegalAddress, sticky, as a
//   copy engine touching unmapped memory would. Host memory is read and
//   written when the copy runs, pageable memory as well as pinned: real
//   CUDA stages a pageable source at the call and finishes a copy into
//   pageable memory before returning, so a program that is correct for
//   pinned memory (synchronises before it touches the host buffer) is
//   correct here, and one that relies on the pageable behaviour is caught.
// - cudaFreeHost and cudaFree wait for the work queued on every device
//   first, as CUDA synchronises there.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../engine/hex.h"
#include "../engine/memory.h"
#include "runtime.h"

struct CUmemPoolHandle_st {
  int device = 0;
  bool is_default = false;
  uint64_t release_threshold = 0;
  int reuse_follow_event_dependencies = 1;
  int reuse_allow_opportunistic = 1;
  int reuse_allow_internal_dependencies = 1;
  uint64_t reserved = 0;  // bytes the pool holds: its live allocations and the freed memory it keeps
  uint64_t used = 0;      // bytes of its live allocations (frees count when the stream reaches them)
  uint64_t reserved_high = 0;
  uint64_t used_high = 0;
  int access[moekit::emu::rt::MAX_DEVICES] = {};  // cudaMemAccessFlags per device
};

namespace moekit {
namespace emu {
namespace rt {

namespace memory_api_detail {

using Pool = CUmemPoolHandle_st;

struct Record {
  size_t size = 0;
  int device = 0;
  bool pinned = false;
  Pool* pool = nullptr;  // null: cudaMalloc (or pinned)
  bool free_queued = false;
};

struct State {
  std::mutex mutex;
  std::unordered_set<Pool*> pools;  // live, created with cudaMemPoolCreate
  Pool* default_pools[MAX_DEVICES] = {};
  std::unordered_map<uintptr_t, Record> records;  // every live allocation, by base
  uint64_t direct_bytes[MAX_DEVICES] = {};        // cudaMalloc's live bytes per device
};

State& state() {
  static auto* s = new State();
  return *s;
}

// Device memory `device` has given out: what its pools reserve plus cudaMalloc's. Under the lock.
uint64_t committed(State& s, int device) {
  uint64_t total = s.direct_bytes[device];
  for (Pool* p : s.pools) {
    if (p->device == device) total += p->reserved;
  }
  for (Pool* p : s.default_pools) {
    if (p && p->device == device) total += p->reserved;
  }
  return total;
}

Pool* default_pool(State& s, int device) {
  Pool*& p = s.default_pools[device];
  if (!p) {
    p = new Pool();
    p->device = device;
    p->is_default = true;
    p->access[device] = cudaMemAccessFlagsProtReadWrite;
  }
  return p;
}

bool known_pool(State& s, Pool* p) {
  if (s.pools.count(p)) return true;
  for (Pool* d : s.default_pools) {
    if (d && d == p) return true;
  }
  return false;
}

void give_back(Pool* p, uint64_t keep) {
  if (p->reserved > keep) p->reserved = std::max(p->used, keep);
}


// A call-time check failed: the error, with a line on stderr saying why (the
// runtime's own message is only "invalid argument").
cudaError_t invalid(const char* call, const std::string& why) {
  std::fprintf(stderr, "moekit emulation: %s: %s\n", call, why.c_str());
  std::fflush(stderr);
  return record(cudaErrorInvalidValue);
}

const char* direction_name(cudaMemcpyKind kind) {
  switch (kind) {
    case cudaMemcpyHostToHost: return "host to host";
    case cudaMemcpyHostToDevice: return "host to device";
    case cudaMemcpyDeviceToHost: return "device to host";
    case cudaMemcpyDeviceToDevice: return "device to device";
    default: return "inferred direction";
  }
}

// One side of a copy: `device_side` when the direction says it is device
// memory. Arena addresses must lie in a live allocation; other addresses
// are pageable host memory, which a device side cannot be.
bool check_side(const char* role, const void* p, size_t bytes, bool device_side, std::string* why) {
  if (p == nullptr) {
    *why = std::string("the ") + role + " is a null pointer";
    return false;
  }
  if (in_arena(p)) {
    std::string reason;
    if (find_allocation(p, bytes, nullptr, &reason)) return true;
    *why = std::string("the ") + role + " " + hex(p) + " (" + std::to_string(bytes) + " bytes) " + reason;
    return false;
  }
  if (device_side) {
    *why = std::string("the ") + role + " " + hex(p) + " is not device memory (the copy's direction says it is)";
    return false;
  }
  return true;
}

// At execution: both arena ranges still live. Faults the stream's device otherwise.
bool recheck(int device, const std::string& what, const char* role, const void* p, size_t bytes) {
  if (!in_arena(p)) return true;
  std::string why;
  if (find_allocation(p, bytes, nullptr, &why)) return true;
  fault_device(device, cudaErrorIllegalAddress, what + ": the " + role + " " + hex(p) + " (" + std::to_string(bytes) + " bytes) " + why);
  return false;
}

std::string stream_text(cudaStream_t stream, int device) {
  if (stream == nullptr || stream == cudaStreamLegacy) return "the legacy default stream of cuda:" + std::to_string(device);
  if (stream == cudaStreamPerThread) return "the per-thread default stream of cuda:" + std::to_string(device);
  return "stream " + hex(stream) + " of cuda:" + std::to_string(device);
}

// Frees a live allocation's memory and forgets it. Under the lock.
void release(State& s, uintptr_t base) {
  auto it = s.records.find(base);
  if (it == s.records.end()) return;
  const Record r = it->second;
  s.records.erase(it);
  if (r.pool) {
    r.pool->used -= r.size;
  } else if (!r.pinned) {
    s.direct_bytes[r.device] -= r.size;
  }
  (void)arena_free(reinterpret_cast<void*>(base));
}

cudaError_t allocate_from(Pool* pool, size_t size, void** ptr) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!known_pool(s, pool)) return record(cudaErrorInvalidValue);  // destroyed meanwhile
  const int device = pool->device;
  const uint64_t capacity = device_memory_capacity();
  const uint64_t growth = pool->used + size > pool->reserved ? pool->used + size - pool->reserved : 0;
  const uint64_t given = committed(s, device);
  if (size > capacity || growth > capacity - std::min<uint64_t>(given, capacity)) return record(cudaErrorMemoryAllocation);
  void* p = arena_allocate(size, MemoryKind::Device, device);
  if (!p) return record(cudaErrorMemoryAllocation);
  Record r;
  r.size = size;
  r.device = device;
  r.pool = pool;
  s.records[reinterpret_cast<uintptr_t>(p)] = r;
  pool->used += size;
  pool->reserved += growth;
  pool->used_high = std::max(pool->used_high, pool->used);
  pool->reserved_high = std::max(pool->reserved_high, pool->reserved);
  *ptr = p;
  return cudaSuccess;
}

cudaError_t free_async(void* ptr, cudaStream_t stream, const char* call) {
  if (cudaError_t e = enter()) return e;
  int device = 0;
  if (cudaError_t e = context_device(call, &device)) return e;
  if (ptr == nullptr) return cudaSuccess;
  Stream* st = nullptr;
  if (cudaError_t e = resolve_stream(stream, device, &st)) return record(e);
  State& s = state();
  const auto base = reinterpret_cast<uintptr_t>(ptr);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.records.find(base);
    if (it == s.records.end() || it->second.pinned) {
      return invalid(call, hex(ptr) + " is not the start of a live device allocation");
    }
    if (it->second.free_queued) return invalid(call, hex(ptr) + " is freed twice (a free of it is already queued)");
    if (cudaError_t e = sticky_error(stream_device(st))) {
      // The device is lost: nothing runs on it any more. The memory goes now.
      release(s, base);
      return record(e);
    }
    it->second.free_queued = true;
  }
  Work work;
  work.what = call;
  work.always_run = true;
  work.run = [base] {
    State& st_ = state();
    std::lock_guard<std::mutex> lock(st_.mutex);
    release(st_, base);
  };
  if (!enqueue(st, std::move(work))) return record(not_queued_error());
  return cudaSuccess;
}

cudaError_t copy_async(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream, const char* call) {
  if (cudaError_t e = enter()) return e;
  int device = 0;
  if (cudaError_t e = context_device(call, &device)) return e;
  Stream* st = nullptr;
  if (cudaError_t e = resolve_stream(stream, device, &st)) return record(e);
  const int stream_dev = stream_device(st);
  if (cudaError_t e = sticky_error(stream_dev)) return record(e);
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return record(cudaErrorInvalidMemcpyDirection);
  if (count == 0) return cudaSuccess;
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  std::string why;
  if (!check_side("destination", dst, count, dst_device, &why) || !check_side("source", src, count, src_device, &why)) {
    return invalid(call, why);
  }
  const std::string what = std::string(call) + " of " + std::to_string(count) + " bytes (" + direction_name(kind) + ") on " +
                           stream_text(stream, stream_dev);
  Work work;
  work.what = call;
  work.touches_memory = true;
  work.run = [dst, src, count, stream_dev, what] {
    if (!recheck(stream_dev, what, "source", src, count) || !recheck(stream_dev, what, "destination", dst, count)) return;
    std::memmove(dst, src, count);
  };
  if (!enqueue(st, std::move(work))) return record(not_queued_error());
  return cudaSuccess;
}

cudaError_t memset_async(void* dst, int value, size_t count, cudaStream_t stream, const char* call) {
  if (cudaError_t e = enter()) return e;
  int device = 0;
  if (cudaError_t e = context_device(call, &device)) return e;
  Stream* st = nullptr;
  if (cudaError_t e = resolve_stream(stream, device, &st)) return record(e);
  const int stream_dev = stream_device(st);
  if (cudaError_t e = sticky_error(stream_dev)) return record(e);
  if (count == 0) return cudaSuccess;
  std::string why;
  if (!check_side("destination", dst, count, true, &why)) return invalid(call, why);
  const std::string what = std::string(call) + " of " + std::to_string(count) + " bytes on " + stream_text(stream, stream_dev);
  Work work;
  work.what = call;
  work.touches_memory = true;
  work.run = [dst, value, count, stream_dev, what] {
    if (!recheck(stream_dev, what, "destination", dst, count)) return;
    std::memset(dst, value, count);
  };
  if (!enqueue(st, std::move(work))) return record(not_queued_error());
  return cudaSuccess;
}

// After a synchronous copy was queued on the legacy default stream: waits
// for it (and for the rest of the device's work). The device is the one the
// copy used (its implicit use, if any, was reported then).
cudaError_t wait_legacy() {
  const int device = selected_device() >= 0 ? selected_device() : 0;
  if (!synchronize_streams(device)) return record(cudaErrorCudartUnloading);
  return record(sticky_error(device));
}

}  // namespace memory_api_detail

void pools_after_synchronize(int device) {
  using namespace memory_api_detail;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  for (Pool* p : s.pools) {
    if (p->device == device) give_back(p, p->release_threshold);
  }
  if (Pool* p = s.default_pools[device]) give_back(p, p->release_threshold);
}

}  // namespace rt
}  // namespace emu
}  // namespace moekit

using namespace moekit::emu;
namespace mad = moekit::emu::rt::memory_api_detail;

extern "C" {

cudaError_t cudaMemPoolCreate(cudaMemPool_t* memPool, const cudaMemPoolProps* poolProps) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMemPoolCreate", &device)) return e;
  if (!memPool || !poolProps) return rt::record(cudaErrorInvalidValue);
  if (poolProps->allocType != cudaMemAllocationTypePinned) return rt::record(cudaErrorInvalidValue);
  // Pools in host memory (cudaMemLocationTypeHost*) are not emulated.
  if (poolProps->location.type != cudaMemLocationTypeDevice) return rt::record(cudaErrorNotSupported);
  if (!rt::valid_device(poolProps->location.id)) return rt::record(cudaErrorInvalidDevice);
  if ((poolProps->handleTypes & ~cudaMemHandleTypePosixFileDescriptor) != 0) return rt::record(cudaErrorNotSupported);
  if (cudaError_t e = rt::sticky_error(poolProps->location.id)) return rt::record(e);
  auto* pool = new mad::Pool();
  pool->device = poolProps->location.id;
  pool->access[pool->device] = cudaMemAccessFlagsProtReadWrite;
  mad::State& s = mad::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.pools.insert(pool);
  *memPool = pool;
  return cudaSuccess;
}

cudaError_t cudaMemPoolDestroy(cudaMemPool_t memPool) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMemPoolDestroy", &device)) return e;
  mad::State& s = mad::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  // Default pools cannot be destroyed.
  if (!memPool || !s.pools.count(memPool)) return rt::record(cudaErrorInvalidValue);
  s.pools.erase(memPool);
  // Its live allocations stay valid until freed, counted from now on like
  // cudaMalloc's; what it keeps goes back now.
  for (auto& entry : s.records) {
    if (entry.second.pool == memPool) {
      entry.second.pool = nullptr;
      s.direct_bytes[entry.second.device] += entry.second.size;
    }
  }
  const int owner = memPool->device;
  delete memPool;
  return rt::record(rt::sticky_error(owner));
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* memPool, int device) {
  if (cudaError_t e = rt::enter()) return e;
  if (!memPool) return rt::record(cudaErrorInvalidValue);
  if (!rt::valid_device(device)) return rt::record(cudaErrorInvalidDevice);
  mad::State& s = mad::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  *memPool = mad::default_pool(s, device);
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t memPool, cudaMemPoolAttr attr, void* value) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMemPoolSetAttribute", &device)) return e;
  mad::State& s = mad::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!memPool || !mad::known_pool(s, memPool) || !value) return rt::record(cudaErrorInvalidValue);
  if (cudaError_t e = rt::sticky_error(memPool->device)) return rt::record(e);
  switch (attr) {
    case cudaMemPoolReuseFollowEventDependencies: memPool->reuse_follow_event_dependencies = *static_cast<int*>(value); break;
    case cudaMemPoolReuseAllowOpportunistic: memPool->reuse_allow_opportunistic = *static_cast<int*>(value); break;
    case cudaMemPoolReuseAllowInternalDependencies: memPool->reuse_allow_internal_dependencies = *static_cast<int*>(value); break;
    case cudaMemPoolAttrReleaseThreshold: memPool->release_threshold = *static_cast<uint64_t*>(value); break;
    case cudaMemPoolAttrReservedMemHigh:
      // Only 0, which resets the high-water mark to the current value.
      if (*static_cast<uint64_t*>(value) != 0) return rt::record(cudaErrorInvalidValue);
      memPool->reserved_high = memPool->reserved;
      break;
    case cudaMemPoolAttrUsedMemHigh:
      if (*static_cast<uint64_t*>(value) != 0) return rt::record(cudaErrorInvalidValue);
      memPool->used_high = memPool->used;
      break;
    default: return rt::record(cudaErrorInvalidValue);  // the current values are read-only
  }
  return cudaSuccess;
}

cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t memPool, cudaMemPoolAttr attr, void* value) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMemPoolGetAttribute", &device)) return e;
  mad::State& s = mad::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!memPool || !mad::known_pool(s, memPool) || !value) return rt::record(cudaErrorInvalidValue);
  if (cudaError_t e = rt::sticky_error(memPool->device)) return rt::record(e);
  switch (attr) {
    case cudaMemPoolReuseFollowEventDependencies: *static_cast<int*>(value) = memPool->reuse_follow_event_dependencies; break;
    case cudaMemPoolReuseAllowOpportunistic: *static_cast<int*>(value) = memPool->reuse_allow_opportunistic; break;
    case cudaMemPoolReuseAllowInternalDependencies: *static_cast<int*>(value) = memPool->reuse_allow_internal_dependencies; break;
    case cudaMemPoolAttrReleaseThreshold: *static_cast<uint64_t*>(value) = memPool->release_threshold; break;
    case cudaMemPoolAttrReservedMemCurrent: *static_cast<uint64_t*>(value) = memPool->reserved; break;
    case cudaMemPoolAttrReservedMemHigh: *static_cast<uint64_t*>(value) = memPool->reserved_high; break;
    case cudaMemPoolAttrUsedMemCurrent: *static_cast<uint64_t*>(value) = memPool->used; break;
    case cudaMemPoolAttrUsedMemHigh: *static_cast<uint64_t*>(value) = memPool->used_high; break;
    default: return rt::record(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAccess(cudaMemPool_t memPool, const cudaMemAccessDesc* descList, size_t count) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMemPoolSetAccess", &device)) return e;
  mad::State& s = mad::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!memPool || !mad::known_pool(s, memPool) || (count > 0 && !descList)) return rt::record(cudaErrorInvalidValue);
  if (cudaError_t e = rt::sticky_error(memPool->device)) return rt::record(e);
  for (size_t i = 0; i < count; ++i) {
    const cudaMemAccessDesc& d = descList[i];
    if (d.location.type != cudaMemLocationTypeDevice) return rt::record(cudaErrorInvalidValue);
    if (!rt::valid_device(d.location.id)) return rt::record(cudaErrorInvalidDevice);
    if (d.flags != cudaMemAccessFlagsProtNone && d.flags != cudaMemAccessFlagsProtRead &&
        d.flags != cudaMemAccessFlagsProtReadWrite) {
      return rt::record(cudaErrorInvalidValue);
    }
    // The owning device always has read-write access.
    if (d.location.id == memPool->device && d.flags != cudaMemAccessFlagsProtReadWrite) return rt::record(cudaErrorInvalidValue);
  }
  for (size_t i = 0; i < count; ++i) memPool->access[descList[i].location.id] = descList[i].flags;
  return cudaSuccess;
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t memPool, size_t minBytesToKeep) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMemPoolTrimTo", &device)) return e;
  mad::State& s = mad::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!memPool || !mad::known_pool(s, memPool)) return rt::record(cudaErrorInvalidValue);
  if (cudaError_t e = rt::sticky_error(memPool->device)) return rt::record(e);
  mad::give_back(memPool, minBytesToKeep);
  return cudaSuccess;
}

cudaError_t cudaMallocFromPoolAsync(void** ptr, size_t size, cudaMemPool_t memPool, cudaStream_t stream) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMallocFromPoolAsync", &device)) return e;
  if (!ptr) return rt::record(cudaErrorInvalidValue);
  rt::Stream* st = nullptr;
  if (cudaError_t e = rt::resolve_stream(stream, device, &st)) return rt::record(e);
  int pool_device = 0;
  {
    mad::State& s = mad::state();
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!memPool || !mad::known_pool(s, memPool)) return rt::record(cudaErrorInvalidValue);
    pool_device = memPool->device;
  }
  if (cudaError_t e = rt::sticky_error(rt::stream_device(st))) return rt::record(e);
  if (cudaError_t e = rt::sticky_error(pool_device)) return rt::record(e);
  if (size == 0) {
    *ptr = nullptr;
    return cudaSuccess;
  }
  return mad::allocate_from(memPool, size, ptr);
}

cudaError_t cudaMallocAsync(void** devPtr, size_t size, cudaStream_t hStream) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMallocAsync", &device)) return e;
  rt::Stream* st = nullptr;
  if (cudaError_t e = rt::resolve_stream(hStream, device, &st)) return rt::record(e);
  cudaMemPool_t pool = nullptr;
  {
    mad::State& s = mad::state();
    std::lock_guard<std::mutex> lock(s.mutex);
    pool = mad::default_pool(s, rt::stream_device(st));
  }
  return cudaMallocFromPoolAsync(devPtr, size, pool, hStream);
}

cudaError_t cudaFreeAsync(void* devPtr, cudaStream_t hStream) { return mad::free_async(devPtr, hStream, "cudaFreeAsync"); }

cudaError_t cudaMalloc(void** devPtr, size_t size) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMalloc", &device)) return e;
  if (!devPtr) return rt::record(cudaErrorInvalidValue);
  if (cudaError_t e = rt::sticky_error(device)) return rt::record(e);
  if (size == 0) {
    *devPtr = nullptr;
    return cudaSuccess;
  }
  mad::State& s = mad::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const uint64_t capacity = rt::device_memory_capacity();
  const uint64_t given = mad::committed(s, device);
  if (size > capacity || given > capacity - size) return rt::record(cudaErrorMemoryAllocation);
  void* p = arena_allocate(size, MemoryKind::Device, device);
  if (!p) return rt::record(cudaErrorMemoryAllocation);
  mad::Record r;
  r.size = size;
  r.device = device;
  s.records[reinterpret_cast<uintptr_t>(p)] = r;
  s.direct_bytes[device] += size;
  *devPtr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* devPtr) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaFree", &device)) return e;
  if (devPtr == nullptr) return cudaSuccess;
  mad::State& s = mad::state();
  const auto base = reinterpret_cast<uintptr_t>(devPtr);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.records.find(base);
    if (it == s.records.end() || it->second.pinned || it->second.free_queued) {
      return mad::invalid("cudaFree", moekit::emu::hex(devPtr) + " is not the start of a live device allocation");
    }
    it->second.free_queued = true;
  }
  // cudaFree synchronises: work queued before it may still use the memory.
  if (!rt::synchronize_streams(-1)) return rt::record(cudaErrorCudartUnloading);
  std::lock_guard<std::mutex> lock(s.mutex);
  mad::release(s, base);
  return rt::record(rt::sticky_error(device));
}

cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMemGetInfo", &device)) return e;
  if (!free || !total) return rt::record(cudaErrorInvalidValue);
  if (cudaError_t e = rt::sticky_error(device)) return rt::record(e);
  mad::State& s = mad::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const uint64_t capacity = rt::device_memory_capacity();
  const uint64_t given = std::min<uint64_t>(mad::committed(s, device), capacity);
  *total = capacity;
  *free = capacity - given;
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** pHost, size_t size, unsigned int flags) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaHostAlloc", &device)) return e;
  const unsigned known = cudaHostAllocPortable | cudaHostAllocMapped | cudaHostAllocWriteCombined;
  if (!pHost || (flags & ~known) != 0) return rt::record(cudaErrorInvalidValue);
  if (cudaError_t e = rt::sticky_error(device)) return rt::record(e);
  if (size == 0) {
    *pHost = nullptr;
    return cudaSuccess;
  }
  void* p = arena_allocate(size, MemoryKind::Pinned, device);
  if (!p) return rt::record(cudaErrorMemoryAllocation);
  mad::State& s = mad::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  mad::Record r;
  r.size = size;
  r.device = device;
  r.pinned = true;
  s.records[reinterpret_cast<uintptr_t>(p)] = r;
  *pHost = p;
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t size) { return cudaHostAlloc(ptr, size, cudaHostAllocDefault); }

cudaError_t cudaFreeHost(void* ptr) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaFreeHost", &device)) return e;
  if (ptr == nullptr) return cudaSuccess;
  mad::State& s = mad::state();
  const auto base = reinterpret_cast<uintptr_t>(ptr);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.records.find(base);
    if (it == s.records.end() || !it->second.pinned || it->second.free_queued) {
      return mad::invalid("cudaFreeHost", moekit::emu::hex(ptr) + " is not the start of a live cudaHostAlloc allocation");
    }
    it->second.free_queued = true;
  }
  // cudaFreeHost synchronises: queued copies may still read or write the block.
  if (!rt::synchronize_streams(-1)) return rt::record(cudaErrorCudartUnloading);
  std::lock_guard<std::mutex> lock(s.mutex);
  mad::release(s, base);
  return rt::record(rt::sticky_error(device));
}

cudaError_t cudaHostGetDevicePointer(void** pDevice, void* pHost, unsigned int flags) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaHostGetDevicePointer", &device)) return e;
  if (!pDevice || flags != 0) return rt::record(cudaErrorInvalidValue);
  Allocation a;
  if (!find_allocation(pHost, 1, &a, nullptr) || a.kind != MemoryKind::Pinned) return rt::record(cudaErrorInvalidValue);
  *pDevice = pHost;  // unified addressing: the same address
  return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr) {
  if (cudaError_t e = rt::enter()) return e;
  if (!attributes) return rt::record(cudaErrorInvalidValue);
  *attributes = cudaPointerAttributes{};
  Allocation a;
  if (!find_allocation(ptr, 0, &a, nullptr)) {
    attributes->type = cudaMemoryTypeUnregistered;
    attributes->device = -2;
    attributes->hostPointer = const_cast<void*>(ptr);
    return cudaSuccess;
  }
  attributes->type = a.kind == MemoryKind::Pinned ? cudaMemoryTypeHost : cudaMemoryTypeDevice;
  attributes->device = a.device;
  attributes->devicePointer = const_cast<void*>(ptr);
  attributes->hostPointer = a.kind == MemoryKind::Pinned ? const_cast<void*>(ptr) : nullptr;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
  return mad::copy_async(dst, src, count, kind, stream, "cudaMemcpyAsync");
}

cudaError_t cudaMemsetAsync(void* devPtr, int value, size_t count, cudaStream_t stream) {
  return mad::memset_async(devPtr, value, count, stream, "cudaMemsetAsync");
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  if (cudaError_t e = mad::copy_async(dst, src, count, kind, nullptr, "cudaMemcpy")) return e;
  return mad::wait_legacy();
}

cudaError_t cudaMemset(void* devPtr, int value, size_t count) {
  if (cudaError_t e = mad::memset_async(devPtr, value, count, nullptr, "cudaMemset")) return e;
  return mad::wait_legacy();
}

cudaError_t cudaMemcpyPeerAsync(void* dst, int dstDevice, const void* src, int srcDevice, size_t count, cudaStream_t stream) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaMemcpyPeerAsync", &device)) return e;
  if (!rt::valid_device(dstDevice) || !rt::valid_device(srcDevice)) return rt::record(cudaErrorInvalidDevice);
  rt::Stream* st = nullptr;
  if (cudaError_t e = rt::resolve_stream(stream, device, &st)) return rt::record(e);
  const int stream_dev = rt::stream_device(st);
  for (int d : {stream_dev, srcDevice, dstDevice}) {
    if (cudaError_t e = rt::sticky_error(d)) return rt::record(e);
  }
  if (count == 0) return cudaSuccess;
  std::string why;
  if (!mad::check_side("destination", dst, count, true, &why) || !mad::check_side("source", src, count, true, &why)) {
    return mad::invalid("cudaMemcpyPeerAsync", why);
  }
  Allocation a_dst, a_src;
  (void)find_allocation(dst, count, &a_dst, nullptr);
  (void)find_allocation(src, count, &a_src, nullptr);
  if (a_dst.kind != MemoryKind::Device || a_dst.device != dstDevice) {
    return mad::invalid("cudaMemcpyPeerAsync", "the destination " + moekit::emu::hex(dst) + " is not device memory of cuda:" + std::to_string(dstDevice));
  }
  if (a_src.kind != MemoryKind::Device || a_src.device != srcDevice) {
    return mad::invalid("cudaMemcpyPeerAsync", "the source " + moekit::emu::hex(src) + " is not device memory of cuda:" + std::to_string(srcDevice));
  }
  const std::string what = "cudaMemcpyPeerAsync of " + std::to_string(count) + " bytes from cuda:" + std::to_string(srcDevice) +
                           " to cuda:" + std::to_string(dstDevice) + " on " + mad::stream_text(stream, stream_dev);
  rt::Work work;
  work.what = "cudaMemcpyPeerAsync";
  work.touches_memory = true;
  work.run = [dst, src, count, stream_dev, what] {
    if (!mad::recheck(stream_dev, what, "source", src, count) || !mad::recheck(stream_dev, what, "destination", dst, count)) return;
    std::memmove(dst, src, count);
  };
  if (!rt::enqueue(st, std::move(work))) return rt::record(rt::not_queued_error());
  return cudaSuccess;
}

}  // extern "C"
