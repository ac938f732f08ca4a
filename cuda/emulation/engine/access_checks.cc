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

#include "hex.h"
#include "block.h"
#include "memory.h"

namespace moekit {
namespace emu {

namespace {


void check_global(const void* p, size_t bytes, bool write, bool aligned) {
  Allocation a;
  std::string why;
  if (!find_allocation(p, bytes, &a, &why)) {
    fail(cudaErrorIllegalAddress, std::string("out-of-bounds global-memory ") + (write ? "store" : "load") + " of " +
                                      std::to_string(bytes) + " bytes at " + hex(reinterpret_cast<uintptr_t>(p)) + ": " + why +
                                      code_location(current_block()->access_pc));
  }
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  if (aligned && bytes > 1 && addr % bytes != 0 && (bytes == 2 || bytes == 4 || bytes == 8 || bytes == 16)) {
    fail(cudaErrorMisalignedAddress, std::string("misaligned global-memory ") + (write ? "store" : "load") + " of " +
                                         std::to_string(bytes) + " bytes at " + hex(addr) + code_location(current_block()->access_pc));
  }
}

// A thread that has done this many loads of shared or global memory in one
// turn without a store or a synchronisation yields as if spinning (about a
// second of emulation); if no thread can then make progress, the scheduler
// reports the block as deadlocked, instead of the run hanging on a spin
// whose flag nothing will set (another block's, say: blocks run one after
// another).
constexpr uint64_t SPIN_LOADS = uint64_t{1} << 26;

// `aligned`: the compiler emitted the access as a naturally aligned one (the
// __tsan_readN / writeN hooks), which the GPU requires to be aligned; the
// unaligned and range hooks come from copies the GPU code would split.
inline void access(const void* p, size_t bytes, bool write, const void* pc, bool aligned) {
  Block* b = running_block();
  if (b == nullptr) return;
  b->access_pc = pc;
  if (shared_contains(*b, p)) {
    shared_access(p, bytes, write, aligned);
  } else if (in_arena(p)) {
    check_global(p, bytes, write, aligned);
  } else {
    return;
  }
  Thread& t = *b->running;
  if (write) {
    t.quiet_loads = 0;
    ++b->progress;
  } else if (++t.quiet_loads >= SPIN_LOADS) {
    t.quiet_loads = 0;
    t.wait_what = "a loop of loads of shared or global memory with no store or synchronisation (spinning on memory?)";
    t.wait_site = "";
    yield_spinning();
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
    shared_atomic(address, bytes);
  } else if (in_arena(address)) {
    check_global(address, bytes, true, true);
  }
}

}  // namespace device
}  // namespace emu
}  // namespace moekit

using moekit::emu::access;

#define MOEKIT_EMU_HOOKS(n)                                                                                  \
  extern "C" __attribute__((visibility("default"))) void __tsan_read##n(void* p) { access(p, n, false, __builtin_return_address(0), true); }           \
  extern "C" __attribute__((visibility("default"))) void __tsan_write##n(void* p) { access(p, n, true, __builtin_return_address(0), true); }           \
  extern "C" __attribute__((visibility("default"))) void __tsan_unaligned_read##n(void* p) { access(p, n, false, __builtin_return_address(0), false); } \
  extern "C" __attribute__((visibility("default"))) void __tsan_unaligned_write##n(void* p) { access(p, n, true, __builtin_return_address(0), false); }
MOEKIT_EMU_HOOKS(1)
MOEKIT_EMU_HOOKS(2)
MOEKIT_EMU_HOOKS(4)
MOEKIT_EMU_HOOKS(8)
MOEKIT_EMU_HOOKS(16)
#undef MOEKIT_EMU_HOOKS

extern "C" __attribute__((visibility("default"))) void __tsan_read_range(void* p, unsigned long bytes) { access(p, bytes, false, __builtin_return_address(0), false); }
extern "C" __attribute__((visibility("default"))) void __tsan_write_range(void* p, unsigned long bytes) { access(p, bytes, true, __builtin_return_address(0), false); }
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
