// Every load and store in the kernels' code reaches one of these hooks: the
// kernels are compiled with GCC's ThreadSanitizer instrumentation
// (-fsanitize=thread), whose calls (__tsan_read4(addr), ...) are answered
// here instead of by libtsan, which is not linked.
//
// Outside a kernel (host code in the same files) a hook returns at once.
// Inside one, an address in the block's shared memory goes to the racecheck
// (shared_memory.cc); an address in the device-memory arena must lie inside
// a live allocation, or the kernel fails with an out-of-bounds report;
// anything else (the thread's own stack: locals and the copied kernel
// parameters) is not checked.
#include <cuda_runtime_api.h>

#include <dlfcn.h>

#include <cstdio>
#include <string>

#include "block.h"
#include "memory.h"

namespace moekit {
namespace emu {

namespace {

std::string hex(uintptr_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

void check_global(const void* p, size_t bytes, bool write) {
  Allocation a;
  std::string why;
  if (!find_allocation(p, bytes, &a, &why)) {
    fail(cudaErrorIllegalAddress, std::string("out-of-bounds global-memory ") + (write ? "store" : "load") + " of " +
                                      std::to_string(bytes) + " bytes at " + hex(reinterpret_cast<uintptr_t>(p)) + ": " + why +
                                      code_location(current_block()->access_pc));
  }
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  if (bytes > 1 && addr % bytes != 0 && (bytes == 2 || bytes == 4 || bytes == 8 || bytes == 16)) {
    fail(cudaErrorMisalignedAddress, std::string("misaligned global-memory ") + (write ? "store" : "load") + " of " +
                                         std::to_string(bytes) + " bytes at " + hex(addr) + code_location(current_block()->access_pc));
  }
}

inline void access(const void* p, size_t bytes, bool write, const void* pc) {
  Block* b = running_block();
  if (b == nullptr) return;
  b->access_pc = pc;
  if (shared_contains(*b, p)) {
    shared_access(p, bytes, write);
  } else if (in_arena(p)) {
    check_global(p, bytes, write);
  }
}

}  // namespace

std::string code_location(const void* pc) {
  Dl_info info;
  if (pc == nullptr || dladdr(pc, &info) == 0 || info.dli_fname == nullptr) return "";
  const uintptr_t offset = reinterpret_cast<uintptr_t>(pc) - reinterpret_cast<uintptr_t>(info.dli_fbase);
  std::string file = info.dli_fname;
  const size_t slash = file.rfind('/');
  const std::string base = slash == std::string::npos ? file : file.substr(slash + 1);
  return " at " + base + "+" + hex(offset) + " (addr2line -Cfe " + file + " " + hex(offset) + ")";
}

namespace device {

void atomic_access(const void* address, size_t bytes, const char* site) {
  (void)site;
  Block* b = running_block();
  if (b == nullptr) return;
  b->access_pc = nullptr;
  if (shared_contains(*b, address)) {
    // An atomic on shared memory is ordered with the other atomics; the
    // racecheck does not see it (it would report atomics racing each other).
    (void)shared_host(generic_to_shared(address), bytes, "an atomic");
  } else if (in_arena(address)) {
    check_global(address, bytes, true);
  }
}

}  // namespace device
}  // namespace emu
}  // namespace moekit

using moekit::emu::access;

#define MOEKIT_EMU_HOOKS(n)                                                                                  \
  extern "C" __attribute__((visibility("default"))) void __tsan_read##n(void* p) { access(p, n, false, __builtin_return_address(0)); }           \
  extern "C" __attribute__((visibility("default"))) void __tsan_write##n(void* p) { access(p, n, true, __builtin_return_address(0)); }           \
  extern "C" __attribute__((visibility("default"))) void __tsan_unaligned_read##n(void* p) { access(p, n, false, __builtin_return_address(0)); } \
  extern "C" __attribute__((visibility("default"))) void __tsan_unaligned_write##n(void* p) { access(p, n, true, __builtin_return_address(0)); }
MOEKIT_EMU_HOOKS(1)
MOEKIT_EMU_HOOKS(2)
MOEKIT_EMU_HOOKS(4)
MOEKIT_EMU_HOOKS(8)
MOEKIT_EMU_HOOKS(16)
#undef MOEKIT_EMU_HOOKS

extern "C" __attribute__((visibility("default"))) void __tsan_read_range(void* p, unsigned long bytes) { access(p, bytes, false, __builtin_return_address(0)); }
extern "C" __attribute__((visibility("default"))) void __tsan_write_range(void* p, unsigned long bytes) { access(p, bytes, true, __builtin_return_address(0)); }
extern "C" __attribute__((visibility("default"))) void __tsan_init() {}
extern "C" __attribute__((visibility("default"))) void __tsan_func_entry(void*) {}
extern "C" __attribute__((visibility("default"))) void __tsan_func_exit() {}
extern "C" __attribute__((visibility("default"))) void __tsan_vptr_update(void**, void*) {}
extern "C" __attribute__((visibility("default"))) void __tsan_vptr_read(void**) {}

// Atomic loads and stores in the instrumented files (the guards of
// function-local statics in host code): performed, not checked.
#define MOEKIT_EMU_ATOMIC_HOOKS(bits, type)                                                                           \
  extern "C" __attribute__((visibility("default"))) type __tsan_atomic##bits##_load(const volatile type* a, int) {   \
    return __atomic_load_n(a, __ATOMIC_SEQ_CST);                                                                     \
  }                                                                                                                  \
  extern "C" __attribute__((visibility("default"))) void __tsan_atomic##bits##_store(volatile type* a, type v, int) { \
    __atomic_store_n(a, v, __ATOMIC_SEQ_CST);                                                                        \
  }
MOEKIT_EMU_ATOMIC_HOOKS(8, unsigned char)
MOEKIT_EMU_ATOMIC_HOOKS(16, unsigned short)
MOEKIT_EMU_ATOMIC_HOOKS(32, unsigned int)
MOEKIT_EMU_ATOMIC_HOOKS(64, unsigned long long)
#undef MOEKIT_EMU_ATOMIC_HOOKS
