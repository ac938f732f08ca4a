// The arena: one reserved, inaccessible address range (mmap PROT_NONE,
// MAP_NORESERVE, so it costs no memory) that device and pinned allocations
// are carved from.
//
// - Each allocation gets fresh addresses: the pages it needs are made
//   read-write and an inaccessible gap follows them. Its base is 256-byte
//   aligned, the alignment cudaMalloc documents, and deliberately no more
//   (base = 256 mod 512), and it ends as close to the end of its last page
//   as that allows, so host code running off its end faults too.
// - A freed allocation leaves the live set at once (every later access is
//   reported), and its pages are dropped and made inaccessible again
//   (mmap MAP_FIXED PROT_NONE) as soon as no work that touches memory and
//   was running at the free is still running (arena_access_begin/end), so an
//   access racing with the free is reported instead of crashing the process.
// - Freed addresses are not handed out again until the allocation cursor
//   wraps around the range.
// - find_allocation is called for every memory access a kernel makes: the
//   last allocation a thread hit is cached (valid until the next free
//   anywhere), otherwise it is a lookup in a sorted map under a shared lock.
#include "hex.h"
#include "memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>

#include "../runtime/runtime.h"

namespace moekit {
namespace emu {

namespace arena_detail {

constexpr uintptr_t BASE_ALIGNMENT = 256;  // cudaMalloc: "aligned for any kind of variable", 256 bytes
constexpr size_t GAP_BYTES = size_t{64} << 10;  // inaccessible addresses after each allocation
constexpr size_t MAX_FREED_RECORDS = size_t{1} << 16;  // freed ranges remembered for reports

struct Block {
  uintptr_t base = 0;
  size_t size = 0;
  MemoryKind kind = MemoryKind::Device;
  int device = 0;
  uintptr_t map_start = 0;  // the read-write pages
  size_t map_bytes = 0;
  bool live = true;  // false: freed, pages still mapped until the accesses running at the free end
};

struct Freed {
  size_t size;
  MemoryKind kind;
  int device;
};

struct Arena {
  uintptr_t start = 0;
  uintptr_t end = 0;
  size_t page = 4096;

  std::shared_mutex mutex;            // blocks, cursor, freed records
  std::map<uintptr_t, Block> blocks;  // by map_start: live, or freed and still mapped
  uintptr_t cursor = 0;
  std::map<uintptr_t, Freed> freed;   // by base: recently freed and unmapped (reports only)
  std::deque<uintptr_t> freed_order;

  // Deferred unmapping (under reclaim_mutex; taken after `mutex` when both are held).
  std::mutex reclaim_mutex;
  uint64_t epoch = 0;
  std::multiset<uint64_t> open_accesses;   // epochs at which running accesses began
  std::deque<std::pair<uint64_t, uintptr_t>> pending;  // (epoch of the free, map_start)
};

std::atomic<uintptr_t> arena_start{0};
std::atomic<uintptr_t> arena_end{0};
std::atomic<uint64_t> free_generation{1};
std::atomic<size_t> device_bytes[rt::MAX_DEVICES];

Arena& arena() {
  static Arena* a = [] {
    auto* made = new Arena();
    const long page = sysconf(_SC_PAGESIZE);
    if (page > 0) made->page = static_cast<size_t>(page);
    // As much address space as the system grants, from 16 TiB down.
    for (size_t bytes = size_t{1} << 44; bytes >= (size_t{1} << 34); bytes >>= 1) {
      void* p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p != MAP_FAILED) {
        made->start = reinterpret_cast<uintptr_t>(p);
        made->end = made->start + bytes;
        break;
      }
    }
    if (made->start == 0) std::fprintf(stderr, "moekit emulation: could not reserve address space for device memory\n");
    made->cursor = made->start;
    arena_start.store(made->start);
    arena_end.store(made->end);
    return made;
  }();
  return *a;
}

uintptr_t round_up(uintptr_t v, uintptr_t to) { return (v + to - 1) / to * to; }

// Where `bytes` of fresh addresses start, from the cursor on, wrapping once
// to the start of the range; skips blocks still mapped. Under the lock.
bool find_space(Arena& a, size_t bytes, uintptr_t* out) {
  uintptr_t candidate = a.cursor;
  bool wrapped = false;
  for (;;) {
    if (candidate > a.end || a.end - candidate < bytes) {
      if (wrapped) return false;
      wrapped = true;
      candidate = a.start;
      continue;
    }
    if (wrapped && candidate >= a.cursor) return false;  // went all the way round
    auto next = a.blocks.lower_bound(candidate + bytes);
    if (next == a.blocks.begin()) break;
    const Block& before = std::prev(next)->second;
    const uintptr_t occupied_end = before.map_start + before.map_bytes + GAP_BYTES;
    if (occupied_end <= candidate) break;
    candidate = occupied_end;
  }
  *out = candidate;
  return true;
}

void forget_freed_records(Arena& a, uintptr_t from, uintptr_t to) {
  auto it = a.freed.lower_bound(from);
  while (it != a.freed.end() && it->first < to) it = a.freed.erase(it);
}

// Makes a freed block's pages inaccessible and drops them. Under the lock.
void unmap_block(Arena& a, std::map<uintptr_t, Block>::iterator it) {
  const Block& b = it->second;
  void* p = reinterpret_cast<void*>(b.map_start);
  if (mmap(p, b.map_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED) {
    (void)madvise(p, b.map_bytes, MADV_DONTNEED);
    (void)mprotect(p, b.map_bytes, PROT_NONE);
  }
  if (a.freed.size() >= MAX_FREED_RECORDS && !a.freed_order.empty()) {
    a.freed.erase(a.freed_order.front());
    a.freed_order.pop_front();
  }
  a.freed[b.base] = Freed{b.size, b.kind, b.device};
  a.freed_order.push_back(b.base);
  a.blocks.erase(it);
}

// Unmaps the freed blocks no open access can still be using. Under both locks.
void reclaim(Arena& a) {
  const uint64_t oldest_open = a.open_accesses.empty() ? std::numeric_limits<uint64_t>::max() : *a.open_accesses.begin();
  while (!a.pending.empty() && a.pending.front().first < oldest_open) {
    auto it = a.blocks.find(a.pending.front().second);
    if (it != a.blocks.end() && !it->second.live) unmap_block(a, it);
    a.pending.pop_front();
  }
}


std::string describe(size_t size, MemoryKind kind, int device, uintptr_t base) {
  std::string s = "a " + std::to_string(size) + "-byte ";
  s += kind == MemoryKind::Pinned ? "pinned host allocation" : "device allocation on cuda:" + std::to_string(device);
  return s + " at " + hex(base);
}

struct CachedHit {
  uint64_t generation = 0;
  Allocation allocation;
};
thread_local CachedHit last_hit;

bool contains(const Allocation& a, uintptr_t p, size_t bytes) {
  return p >= a.base && p - a.base <= a.size && a.size - (p - a.base) >= bytes;
}

}  // namespace arena_detail

void* arena_allocate(size_t bytes, MemoryKind kind, int device) {
  using namespace arena_detail;
  Arena& a = arena();
  if (a.start == 0) return nullptr;
  if (device < 0 || device >= rt::MAX_DEVICES) return nullptr;
  if (bytes > (a.end - a.start) / 2) return nullptr;
  // Room for the base to sit 256 (mod 512) bytes below the end of the pages.
  const size_t map_bytes = round_up(bytes + 2 * BASE_ALIGNMENT, a.page);

  std::unique_lock<std::shared_mutex> lock(a.mutex);
  if (kind == MemoryKind::Device) {
    const size_t capacity = rt::device_memory_capacity();
    const size_t used = device_bytes[device].load();
    if (bytes > capacity || used > capacity - bytes) return nullptr;
  }
  uintptr_t map_start = 0;
  if (!find_space(a, map_bytes + GAP_BYTES, &map_start)) return nullptr;
  if (mprotect(reinterpret_cast<void*>(map_start), map_bytes, PROT_READ | PROT_WRITE) != 0) return nullptr;
  uintptr_t base = (map_start + map_bytes - bytes) / BASE_ALIGNMENT * BASE_ALIGNMENT;
  if (base % (2 * BASE_ALIGNMENT) == 0) base -= BASE_ALIGNMENT;

  Block b;
  b.base = base;
  b.size = bytes;
  b.kind = kind;
  b.device = device;
  b.map_start = map_start;
  b.map_bytes = map_bytes;
  a.blocks.emplace(map_start, b);
  a.cursor = map_start + map_bytes + GAP_BYTES;
  forget_freed_records(a, map_start, a.cursor);
  if (kind == MemoryKind::Device) device_bytes[device].fetch_add(bytes);
  return reinterpret_cast<void*>(base);
}

bool arena_free(void* p) {
  using namespace arena_detail;
  const auto address = reinterpret_cast<uintptr_t>(p);
  if (!in_arena(p)) return false;
  Arena& a = arena();
  std::unique_lock<std::shared_mutex> lock(a.mutex);
  auto it = a.blocks.upper_bound(address);
  if (it == a.blocks.begin()) return false;
  --it;
  Block& b = it->second;
  if (b.base != address || !b.live) return false;
  b.live = false;
  free_generation.fetch_add(1);
  if (b.kind == MemoryKind::Device) device_bytes[b.device].fetch_sub(b.size);
  std::lock_guard<std::mutex> reclaim_lock(a.reclaim_mutex);
  a.pending.emplace_back(a.epoch++, b.map_start);
  reclaim(a);
  return true;
}

size_t arena_device_bytes_in_use(int device) {
  if (device < 0 || device >= rt::MAX_DEVICES) return 0;
  return arena_detail::device_bytes[device].load();
}

bool in_arena(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  return address >= arena_detail::arena_start.load(std::memory_order_relaxed) &&
         address < arena_detail::arena_end.load(std::memory_order_relaxed);
}

bool find_allocation(const void* p, size_t bytes, Allocation* out, std::string* why) {
  using namespace arena_detail;
  const auto address = reinterpret_cast<uintptr_t>(p);
  const uint64_t generation = free_generation.load(std::memory_order_acquire);
  if (last_hit.generation == generation && contains(last_hit.allocation, address, bytes)) {
    if (out) *out = last_hit.allocation;
    return true;
  }
  if (!in_arena(p)) {
    if (why) *why = "is not in the emulated GPU's memory (not an address cudaMalloc*, cudaMallocFromPoolAsync or cudaHostAlloc gave)";
    return false;
  }
  Arena& a = arena();
  std::shared_lock<std::shared_mutex> lock(a.mutex);
  auto it = a.blocks.upper_bound(address);
  if (it != a.blocks.begin()) {
    const Block& b = std::prev(it)->second;
    if (address < b.map_start + b.map_bytes + GAP_BYTES) {
      if (!b.live) {
        if (why) *why = "is in " + describe(b.size, b.kind, b.device, b.base) + " that has been freed";
        return false;
      }
      Allocation found;
      found.base = b.base;
      found.size = b.size;
      found.kind = b.kind;
      found.device = b.device;
      if (contains(found, address, bytes)) {
        last_hit.generation = generation;
        last_hit.allocation = found;
        if (out) *out = found;
        return true;
      }
      if (why) {
        if (address < b.base) {
          *why = "is " + std::to_string(b.base - address) + " bytes before the start of " + describe(b.size, b.kind, b.device, b.base);
        } else if (address >= b.base + b.size && !(bytes == 0 && address == b.base + b.size)) {
          *why = "is " + std::to_string(address - (b.base + b.size)) + " bytes past the end of " + describe(b.size, b.kind, b.device, b.base);
        } else {
          const size_t over = address + bytes - (b.base + b.size);
          *why = "runs " + std::to_string(over) + " bytes past the end of " + describe(b.size, b.kind, b.device, b.base) +
                 " (the access covers " + std::to_string(bytes) + " bytes from offset " + std::to_string(address - b.base) + ")";
        }
      }
      return false;
    }
  }
  if (why) {
    auto f = a.freed.upper_bound(address);
    if (f != a.freed.begin()) {
      --f;
      if (address < f->first + f->second.size) {
        *why = "is in " + describe(f->second.size, f->second.kind, f->second.device, f->first) + " that has been freed";
        return false;
      }
    }
    *why = "is not in any live allocation (freed, or never allocated)";
  }
  return false;
}

namespace rt {

uint64_t arena_access_begin() {
  arena_detail::Arena& a = arena_detail::arena();
  std::lock_guard<std::mutex> lock(a.reclaim_mutex);
  a.open_accesses.insert(a.epoch);
  return a.epoch;
}

void arena_access_end(uint64_t token) {
  arena_detail::Arena& a = arena_detail::arena();
  {
    std::lock_guard<std::mutex> lock(a.reclaim_mutex);
    a.open_accesses.erase(a.open_accesses.find(token));
    const uint64_t oldest_open = a.open_accesses.empty() ? std::numeric_limits<uint64_t>::max() : *a.open_accesses.begin();
    if (a.pending.empty() || a.pending.front().first >= oldest_open) return;
  }
  std::unique_lock<std::shared_mutex> lock(a.mutex);
  std::lock_guard<std::mutex> reclaim_lock(a.reclaim_mutex);
  arena_detail::reclaim(a);
}

}  // namespace rt

}  // namespace emu
}  // namespace moekit
