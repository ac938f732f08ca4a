// Fibers: the emulated CUDA threads of a block. Each has its own stack and
// runs on the OS thread that runs the block until it reaches a point where
// it must wait for others (a barrier, a warp collective, a failed try_wait);
// it then switches back to the block's scheduler. Fibers never move between
// OS threads, so thread_local addresses stay valid across switches.
//
// On x86-64 a switch saves and restores the callee-saved registers and the
// stack pointer (a few nanoseconds; ucontext's swapcontext makes a signal-
// mask system call on every switch, a hundred times slower); elsewhere it
// falls back to ucontext.
#pragma once

#include <cstddef>
#include <cstdint>

namespace moekit {
namespace emu {

struct FiberContext {
  void* stack_pointer = nullptr;  // saved while switched out
#if !defined(__x86_64__)
  void* ucontext = nullptr;
#endif
};

// Fiber stacks, reused from block to block (with an inaccessible guard page
// below each, so an overflow faults instead of corrupting a neighbour).
class FiberStacks {
 public:
  static constexpr size_t STACK_BYTES = 256 * 1024;  // wgmma accumulators and instrumented frames fit easily
  ~FiberStacks();
  // The stack of fiber i (allocated on first use).
  uint8_t* stack(size_t i);

 private:
  struct Mapping {
    uint8_t* base = nullptr;  // guard page first
  };
  Mapping* mappings_ = nullptr;
  size_t count_ = 0;
};

// Prepares `fiber` to run `entry` on `stack` at its first switch_fiber into it.
void make_fiber(FiberContext& fiber, uint8_t* stack, size_t bytes, void (*entry)());
// Saves the running context in `from` and resumes `to`.
void switch_fiber(FiberContext& from, FiberContext& to);

}  // namespace emu
}  // namespace moekit
