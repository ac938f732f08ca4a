// Device memory of the emulated GPU: host memory carved from one reserved
// address range (the arena), so "is this a device address" is two compares
// and every access a kernel makes can be checked against the live
// allocations. Pinned host memory (cudaHostAlloc) comes from the arena too:
// kernels and copies may touch it, and its bounds are checked the same way.
//
// Each allocation gets fresh addresses with an inaccessible gap after it;
// freed addresses are not handed out again until the range wraps, so a use
// after free is reported rather than silently reading someone else's data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace moekit {
namespace emu {

enum class MemoryKind { Device, Pinned };

struct Allocation {
  uintptr_t base = 0;
  size_t size = 0;       // bytes the caller asked for
  MemoryKind kind = MemoryKind::Device;
  int device = 0;        // owning device (Device kind)
};

// Null when the arena or the device's capacity is exhausted. Thread-safe.
void* arena_allocate(size_t bytes, MemoryKind kind, int device);
// False when `p` is not the start of a live allocation.
bool arena_free(void* p);
// Bytes currently allocated of kind Device on `device`.
size_t arena_device_bytes_in_use(int device);

// True when p lies in the arena's reserved range (live or not).
bool in_arena(const void* p);
// The live allocation holding [p, p + bytes), or false with *why saying what
// is wrong ("is 4 bytes past the end of a 4096-byte allocation at 0x…",
// "is not in any live allocation (freed, or never allocated)").
bool find_allocation(const void* p, size_t bytes, Allocation* out, std::string* why);

}  // namespace emu
}  // namespace moekit
