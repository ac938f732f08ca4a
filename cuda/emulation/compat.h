// Force-included (-include) into every kernel source of the emulation build
// (emulation.cmake), which compiles the .cu files as host C++: what nvcc
// would otherwise provide on the device side. The CUDA toolkit's headers
// are used as they are (their host paths); this file adds the device
// built-ins on top of them, routed to the engine (engine/device_api.h).
//
// Static __shared__ variables become static thread_local: the kernels are
// linked into a module of their own whose TLS block holds nothing else, so
// the engine knows exactly where a block's static shared memory lies (the
// calling OS thread runs one block at a time) and can poison and check it.
// Dynamic shared memory comes from dynamic_shared_memory()
// (cuda/common/shared_memory.cuh).
#pragma once

#if !defined(MOEKIT_EMULATION) || !defined(MOEKIT_EMU_ARCH)
#error "compat.h is for the emulation build (MOEKIT_EMULATION, MOEKIT_EMU_ARCH)"
#endif

#define __shared__ static thread_local
#define __launch_bounds__(...)

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "engine/device_api.h"

// The architecture the kernels are compiled for, defined only now so the
// toolkit headers above took their host paths.
#define __CUDA_ARCH__ MOEKIT_EMU_ARCH
#if MOEKIT_EMU_ARCH == 900
#define __CUDA_ARCH_FEAT_SM90_ALL 1
#endif

#define MOEKIT_EMU_STR2(x) #x
#define MOEKIT_EMU_STR(x) MOEKIT_EMU_STR2(x)
#define MOEKIT_EMU_SITE __FILE__ ":" MOEKIT_EMU_STR(__LINE__)

#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim
#undef warpSize
#define threadIdx (::moekit::emu::device::thread_idx())
#define blockIdx (::moekit::emu::device::block_idx())
#define blockDim (::moekit::emu::device::block_dim())
#define gridDim (::moekit::emu::device::grid_dim())
#define warpSize 32

#define __syncthreads() ::moekit::emu::device::syncthreads(MOEKIT_EMU_SITE)
#define __syncwarp(...) ::moekit::emu::device::syncwarp(::moekit::emu::compat::warp_mask(__VA_ARGS__), MOEKIT_EMU_SITE)
#define __trap() ::moekit::emu::device::trap("__trap()", MOEKIT_EMU_SITE)
#define __shfl_sync(...) ::moekit::emu::compat::shfl(::moekit::emu::device::Shuffle::Index, MOEKIT_EMU_SITE, __VA_ARGS__)
#define __shfl_up_sync(...) ::moekit::emu::compat::shfl(::moekit::emu::device::Shuffle::Up, MOEKIT_EMU_SITE, __VA_ARGS__)
#define __shfl_down_sync(...) ::moekit::emu::compat::shfl(::moekit::emu::device::Shuffle::Down, MOEKIT_EMU_SITE, __VA_ARGS__)
#define __shfl_xor_sync(...) ::moekit::emu::compat::shfl(::moekit::emu::device::Shuffle::Xor, MOEKIT_EMU_SITE, __VA_ARGS__)
#define __ballot_sync(mask, pred) ::moekit::emu::device::ballot((mask), (pred), MOEKIT_EMU_SITE)
#define __all_sync(mask, pred) (::moekit::emu::device::ballot((mask), (pred), MOEKIT_EMU_SITE) == (mask))
#define __any_sync(mask, pred) (::moekit::emu::device::ballot((mask), (pred), MOEKIT_EMU_SITE) != 0u)
#define __activemask() ::moekit::emu::device::active_mask()

namespace moekit {
namespace emu {
namespace compat {

inline uint32_t warp_mask() { return 0xFFFFFFFFu; }
inline uint32_t warp_mask(uint32_t mask) { return mask; }

// __shfl_*_sync on any 4- or 8-byte type, as one or two 32-bit steps.
template <typename T>
T shfl(device::Shuffle kind, const char* site, uint32_t mask, T value, int lane_or_delta, int width = 32) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8 || sizeof(T) == 2, "shuffles move 2-, 4- or 8-byte values");
  if constexpr (sizeof(T) == 8) {
    uint32_t w[2];
    std::memcpy(w, &value, 8);
    w[0] = device::shuffle(kind, mask, w[0], lane_or_delta, width, site);
    w[1] = device::shuffle(kind, mask, w[1], lane_or_delta, width, site);
    T out;
    std::memcpy(&out, w, 8);
    return out;
  } else {
    uint32_t w = 0;
    std::memcpy(&w, &value, sizeof(T));
    w = device::shuffle(kind, mask, w, lane_or_delta, width, site);
    T out;
    std::memcpy(&out, &w, sizeof(T));
    return out;
  }
}

}  // namespace compat
}  // namespace emu
}  // namespace moekit

// ---- loads, reinterpretations, conversions ----------------------------------------
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}

inline float __uint_as_float(unsigned int u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline unsigned int __float_as_uint(float f) {
  unsigned int u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, 4);
  return i;
}
// The device min/max overloads of CUDA's math library. For floats they are
// fminf/fmaxf: a NaN operand gives the other one.
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
template <typename A, typename B>
inline std::common_type_t<A, B> min(A a, B b) {
  return b < a ? b : a;
}
template <typename A, typename B>
inline std::common_type_t<A, B> max(A a, B b) {
  return a < b ? b : a;
}

inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }

inline size_t __cvta_generic_to_shared(const void* p) { return ::moekit::emu::device::generic_to_shared(p); }

// ---- atomics (a block's threads never run at the same time: a plain
// read-modify-write is atomic; the access is still checked) -------------------------
#define MOEKIT_EMU_ATOMIC(name, T, expr)                                                  \
  __attribute__((no_sanitize_thread)) inline T name(T* address, T val) {                 \
    ::moekit::emu::device::atomic_access(address, sizeof(T), "atomic " #name);           \
    const T old = *address;                                                                \
    *address = (expr);                                                                     \
    return old;                                                                            \
  }
MOEKIT_EMU_ATOMIC(atomicAdd, int, old + val)
MOEKIT_EMU_ATOMIC(atomicAdd, unsigned int, old + val)
MOEKIT_EMU_ATOMIC(atomicAdd, unsigned long long, old + val)
MOEKIT_EMU_ATOMIC(atomicAdd, float, old + val)
MOEKIT_EMU_ATOMIC(atomicMax, int, old > val ? old : val)
MOEKIT_EMU_ATOMIC(atomicMax, unsigned int, old > val ? old : val)
MOEKIT_EMU_ATOMIC(atomicMin, int, old < val ? old : val)
MOEKIT_EMU_ATOMIC(atomicMin, unsigned int, old < val ? old : val)
MOEKIT_EMU_ATOMIC(atomicExch, int, val)
MOEKIT_EMU_ATOMIC(atomicExch, unsigned int, val)
MOEKIT_EMU_ATOMIC(atomicExch, float, val)
#undef MOEKIT_EMU_ATOMIC

__attribute__((no_sanitize_thread)) inline unsigned int atomicCAS(unsigned int* address, unsigned int compare, unsigned int val) {
  ::moekit::emu::device::atomic_access(address, sizeof(unsigned int), "atomicCAS");
  const unsigned int old = *address;
  if (old == compare) *address = val;
  return old;
}
__attribute__((no_sanitize_thread)) inline int atomicCAS(int* address, int compare, int val) {
  ::moekit::emu::device::atomic_access(address, sizeof(int), "atomicCAS");
  const int old = *address;
  if (old == compare) *address = val;
  return old;
}
