// What the kernels call on the emulated GPU: the device side of the CUDA
// thread model (indices, barriers, warp collectives, traps, shared memory)
// and the host versions of the instruction wrappers in cuda/common. Every
// function runs on the calling CUDA thread's fiber; one that waits for other
// threads (a barrier, a collective, a spinning try_wait) lets them run.
//
// `site` arguments are "file:line" of the call, for reports.
#pragma once

#include <cstddef>
#include <cstdint>

namespace moekit {
namespace emu {
namespace device {

struct Index3 {
  unsigned int x, y, z;
};

const Index3& thread_idx();
const Index3& block_idx();
const Index3& block_dim();
const Index3& grid_dim();

// ---- synchronisation ------------------------------------------------------------
void syncthreads(const char* site);
// bar.sync id, count (count = 0: the whole block).
void barrier_sync(unsigned id, unsigned count, const char* site);
void syncwarp(uint32_t mask, const char* site);

enum class Shuffle { Index, Up, Down, Xor };
// One 32-bit shuffle step: every lane in `mask` must call it together.
uint32_t shuffle(Shuffle kind, uint32_t mask, uint32_t value, int lane_or_delta, int width, const char* site);
uint32_t ballot(uint32_t mask, bool predicate, const char* site);
uint32_t active_mask();

// Fails the kernel (cudaErrorLaunchFailure) with `what`; never returns.
[[noreturn]] void trap(const char* what, const char* site);

// Atomic read-modify-writes are checked like any access, but never count as
// a race with each other.
void atomic_access(const void* address, size_t bytes, const char* site);

// ---- shared memory -------------------------------------------------------------
// The block's dynamic shared memory (the launch's dynamic bytes).
void* dynamic_shared_memory();
uint32_t generic_to_shared(const void* p);

// ---- instruction wrappers (cuda/common/mma.cuh, sm90/*.cuh) ------------------------
void cp_async(uint32_t dst, const void* src, int cp_size, int src_size, const char* site);
void cp_async_commit(const char* site);
void cp_async_wait(int pending, const char* site);

// ldmatrix.sync.aligned.m8n8.x{num}{.trans}.shared.b16
void ldmatrix(int num, bool trans, uint32_t address, uint32_t* regs, const char* site);

// Formats as ptx::Format numbers them: 0 bf16, 1 f16, 2 e4m3, 3 e5m2. d += a * b.
void mma_m16n8k16(int format, float* d, const uint32_t* a, const uint32_t* b, const char* site);
void mma_m16n8k32(int format_a, int format_b, float* d, const uint32_t* a, const uint32_t* b, const char* site);

void mbarrier_init(uint32_t bar, uint32_t count, const char* site);
void mbarrier_arrive(uint32_t bar, const char* site);
void mbarrier_arrive_expect_tx(uint32_t bar, uint32_t bytes, const char* site);
bool mbarrier_try_wait(uint32_t bar, uint32_t parity, const char* site);

void tma_prefetch(const void* tensor_map, const char* site);
void tma_load(uint32_t dst, const void* tensor_map, uint32_t bar, int rank, const int32_t* coords, const char* site);

void wgmma_fence(const char* site);
void wgmma_commit(const char* site);
void wgmma_wait(int pending, const char* site);
// wgmma.mma_async m64n{n}k32 f32.e4m3.e4m3, A and B from descriptors; `d` is
// this thread's n / 2 accumulator registers.
void wgmma_e4m3(int n, float* d, uint64_t desc_a, uint64_t desc_b, bool scale_d, const char* site);
// wgmma.mma_async m64n{n}k16 f32.bf16.bf16, A and B from descriptors with
// the imm-trans-a / imm-trans-b immediates (0 K-major, 1 MN-major).
void wgmma_bf16(int n, float* d, uint64_t desc_a, uint64_t desc_b, bool scale_d, int trans_a, int trans_b, const char* site);

void setmaxnreg(bool increase, uint32_t registers, const char* site);

}  // namespace device
}  // namespace emu
}  // namespace moekit
