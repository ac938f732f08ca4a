#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#if defined(__x86_64__)
// moekit_emu_switch(void** save_sp, void* load_sp): pushes the System V
// callee-saved registers, saves the stack pointer, loads the other fiber's
// and pops its registers; `ret` then continues that fiber where it switched
// out (or enters it: make_fiber leaves the entry point as return address).
// The floating-point control words are not switched: no kernel changes them.
asm(R"(
  .text
  .p2align 4
  .type moekit_emu_switch,@function
moekit_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size moekit_emu_switch, .-moekit_emu_switch
)");
extern "C" void moekit_emu_switch(void** save_sp, void* load_sp);
#endif

namespace moekit {
namespace emu {

namespace {
size_t page_size() {
  static const size_t bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}
}  // namespace

FiberStacks::~FiberStacks() {
  for (size_t i = 0; i < count_; ++i) {
    if (mappings_[i].base != nullptr) munmap(mappings_[i].base, STACK_BYTES + page_size());
  }
  std::free(mappings_);
}

uint8_t* FiberStacks::stack(size_t i) {
  if (i >= count_) {
    const size_t grown = i + 1 > 2 * count_ ? i + 1 : 2 * count_;
    auto* m = static_cast<Mapping*>(std::realloc(mappings_, grown * sizeof(Mapping)));
    if (m == nullptr) throw std::bad_alloc();
    for (size_t j = count_; j < grown; ++j) m[j] = Mapping{};
    mappings_ = m;
    count_ = grown;
  }
  Mapping& m = mappings_[i];
  if (m.base == nullptr) {
    void* p = mmap(nullptr, STACK_BYTES + page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    mprotect(p, page_size(), PROT_NONE);
    m.base = static_cast<uint8_t*>(p);
  }
  return m.base + page_size();
}

#if defined(__x86_64__)

void make_fiber(FiberContext& fiber, uint8_t* stack, size_t bytes, void (*entry)()) {
  // From the top: a null return address for `entry` (which never returns),
  // placed so that rsp % 16 == 8 on entry as after a call; then `entry` for
  // the switch's ret; then the six registers it pops.
  auto top = reinterpret_cast<uintptr_t>(stack + bytes) & ~uintptr_t{15};
  auto* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = 0;
  *--sp = reinterpret_cast<uint64_t>(entry);
  for (int r = 0; r < 6; ++r) *--sp = 0;
  fiber.stack_pointer = sp;
}

void switch_fiber(FiberContext& from, FiberContext& to) { moekit_emu_switch(&from.stack_pointer, to.stack_pointer); }

#else

void make_fiber(FiberContext& fiber, uint8_t* stack, size_t bytes, void (*entry)()) {
  auto* uc = static_cast<ucontext_t*>(fiber.ucontext);
  if (uc == nullptr) {
    uc = new ucontext_t();
    fiber.ucontext = uc;
  }
  getcontext(uc);
  uc->uc_stack.ss_sp = stack;
  uc->uc_stack.ss_size = bytes;
  uc->uc_link = nullptr;
  makecontext(uc, entry, 0);
}

void switch_fiber(FiberContext& from, FiberContext& to) {
  if (from.ucontext == nullptr) from.ucontext = new ucontext_t();
  swapcontext(static_cast<ucontext_t*>(from.ucontext), static_cast<ucontext_t*>(to.ucontext));
}

#endif

}  // namespace emu
}  // namespace moekit
