// The warp-level tensor-core instructions the mma.sync kernels are built
// from: cp.async copies into shared memory, ldmatrix loads into mma
// fragments, and mma.sync itself. Which register holds which element is in
// mma_layout.h; how tiles sit in shared memory is in swizzle.h.
//
// Requirements: cp.async, ldmatrix and bf16/f16 mma need sm_80; the FP8
// (e4m3/e5m2) m16n8k32 mma needs sm_89. Each wrapper traps when compiled
// for an architecture without its instruction, so a kernel that takes the
// wrong path fails loudly instead of computing garbage. The emulation build
// (MOEKIT_EMULATION) runs each on the emulated GPU (cuda/emulation), with
// the same architecture checks.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../../native/common/dtype.h"

namespace moekit {

// Shared-memory address of a generic pointer into shared memory, as the
// 32-bit operand cp.async and ldmatrix take.
__device__ __forceinline__ uint32_t smem_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Copies 16 bytes from global `src` to shared `dst`, or writes 16 zero bytes
// when `valid` is false (src-size 0: nothing is read, the rest is
// zero-filled). `src` must be 16-byte aligned; callers pass a valid address
// even when `valid` is false. .cg: the tile is read once per block, so it
// bypasses L1.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool valid) {
#if defined(MOEKIT_EMULATION) && __CUDA_ARCH__ >= 800
  emu::device::cp_async(dst, src, 16, valid ? 16 : 0, "cp.async.cg.shared.global");
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const uint32_t src_bytes = valid ? 16u : 0u;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
#else
  (void)dst, (void)src, (void)valid;
  __trap();
#endif
}

// Closes the group of cp.async copies issued by this thread since the last commit.
__device__ __forceinline__ void cp_async_commit() {
#if defined(MOEKIT_EMULATION) && __CUDA_ARCH__ >= 800
  emu::device::cp_async_commit("cp.async.commit_group");
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#else
  __trap();
#endif
}

// Waits until at most `PENDING` of this thread's committed groups are still
// in flight. The copies are then visible to this thread only; a barrier
// makes them visible to the block.
template <int PENDING>
__device__ __forceinline__ void cp_async_wait() {
#if defined(MOEKIT_EMULATION) && __CUDA_ARCH__ >= 800
  emu::device::cp_async_wait(PENDING, "cp.async.wait_group");
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING) : "memory");
#else
  __trap();
#endif
}

// ldmatrix.m8n8.x4.b16: four 8x8 matrices of 16-bit elements (or 8x16 of
// bytes); lane 8q + r supplies the address of row r of matrix q, register q
// receives matrix q's fragment (mma_layout.h).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
#if defined(MOEKIT_EMULATION) && __CUDA_ARCH__ >= 800
  emu::device::ldmatrix(4, false, address, r, "ldmatrix.sync.aligned.m8n8.x4.shared.b16");
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address)
               : "memory");
#else
  (void)address;
  r[0] = r[1] = r[2] = r[3] = 0;
  __trap();
#endif
}

// d += a * b for one m16n8k16 tile with bf16 (AB = BF16) or f16 (AB = F16)
// operands and f32 accumulators.
template <DType AB>
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  static_assert(AB == DType::BF16 || AB == DType::F16, "m16n8k16 operands are bf16 or f16");
#if defined(MOEKIT_EMULATION) && __CUDA_ARCH__ >= 800
  emu::device::mma_m16n8k16(AB == DType::BF16 ? 0 : 1, d, a, b, "mma.sync.aligned.m16n8k16");
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (AB == DType::BF16) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#else
  (void)d, (void)a, (void)b;
  __trap();
#endif
}

// d += a * b for one m16n8k32 tile of FP8 operands (A of format FA, B of
// format FB) with f32 accumulators. sm_89 and newer only.
template <DType FA, DType FB>
__device__ __forceinline__ void mma_m16n8k32_fp8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  static_assert(dtype_is_fp8(FA) && dtype_is_fp8(FB), "m16n8k32 FP8 operands are e4m3 or e5m2");
#if defined(MOEKIT_EMULATION) && __CUDA_ARCH__ >= 890
  emu::device::mma_m16n8k32(FA == DType::E4M3 ? 2 : 3, FB == DType::E4M3 ? 2 : 3, d, a, b, "mma.sync.aligned.m16n8k32");
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define MOEKIT_MMA_FP8(ta, tb)                                                                                           \
  asm("mma.sync.aligned.m16n8k32.row.col.f32." ta "." tb ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n" \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                                                   \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))
  if constexpr (FA == DType::E4M3 && FB == DType::E4M3) {
    MOEKIT_MMA_FP8("e4m3", "e4m3");
  } else if constexpr (FA == DType::E4M3) {
    MOEKIT_MMA_FP8("e4m3", "e5m2");
  } else if constexpr (FB == DType::E4M3) {
    MOEKIT_MMA_FP8("e5m2", "e4m3");
  } else {
    MOEKIT_MMA_FP8("e5m2", "e5m2");
  }
#undef MOEKIT_MMA_FP8
#else
  (void)d, (void)a, (void)b;
  __trap();
#endif
}

}  // namespace moekit
