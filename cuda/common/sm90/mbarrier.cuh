// Shared-memory mbarriers (PTX ISA, "Parallel Synchronization and
// Communication Instructions: mbarrier"), as the TMA pipelines use them:
// a barrier object is 8 bytes of shared memory, addressed here by its 32-bit
// shared-window address. Device code for sm_90 and newer.
//
// A phase completes when the expected number of arrivals has happened and
// all expected transaction bytes (expect_tx, counted down by TMA's
// complete_tx) have landed. Waiting uses the parity of the phase: waiting
// for parity p returns once the phase with parity p has completed. On a
// freshly initialised barrier (current phase 0, incomplete), waiting for
// parity 1 returns at once: the "previous" phase counts as complete, which
// lets producers start on empty slots without a special first round.
#pragma once

#include <cstdint>

namespace moekit {
namespace sm90 {

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbarrier_init(uint32_t bar, uint32_t arrivals) {
#if defined(MOEKIT_EMULATION)
  emu::device::mbarrier_init(bar, arrivals, "mbarrier.init");
#else
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(arrivals) : "memory");
#endif
}

// After the initialising thread's mbarrier_init calls and before the
// __syncthreads that publishes them: makes the initialised barriers visible
// to the async proxy (TMA's complete_tx) as well as to the other threads.
__device__ __forceinline__ void mbarrier_init_fence() {
#if !defined(MOEKIT_EMULATION)  // the emulated barriers are visible to every thread once initialised
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
#endif
}

__device__ __forceinline__ void mbarrier_arrive(uint32_t bar) {
#if defined(MOEKIT_EMULATION)
  emu::device::mbarrier_arrive(bar, "mbarrier.arrive");
#else
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
#endif
}

// One arrival plus `bytes` more expected transaction bytes for this phase.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
#if defined(MOEKIT_EMULATION)
  emu::device::mbarrier_arrive_expect_tx(bar, bytes, "mbarrier.arrive.expect_tx");
#else
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
#endif
}

__device__ __forceinline__ bool mbarrier_try_wait(uint32_t bar, uint32_t parity) {
#if defined(MOEKIT_EMULATION)
  return emu::device::mbarrier_try_wait(bar, parity, "mbarrier.try_wait.parity");
#else
  uint32_t done;
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      "selp.u32 %0, 1, 0, p;\n"
      "}"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory");
  return done != 0;
#endif
}

// Blocks until the phase of parity `parity` has completed. try_wait itself
// suspends the thread for a while before returning false, so the loop does
// not spin hot.
__device__ __forceinline__ void mbarrier_wait(uint32_t bar, uint32_t parity) {
  while (!mbarrier_try_wait(bar, parity)) {
  }
}

}  // namespace sm90
}  // namespace moekit
