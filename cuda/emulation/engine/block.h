// The engine's state for the block being run: its threads (fibers), their
// vector clocks, barriers, collectives in progress, shared memory and its
// shadow, and the asynchronous operations in flight. Internal to the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "../ptx/ptx.h"
#include "device_api.h"
#include "fiber.h"
#include "grid.h"

namespace moekit {
namespace emu {

enum class ThreadState : uint8_t {
  Runnable,
  AtBarrier,     // bar.sync / __syncthreads
  InCollective,  // a warp or warpgroup collective waiting for its other lanes
  Exited,
};

struct CpAsyncCopy {
  uint32_t dst = 0;
  uint32_t bytes = 0;
  uint8_t data[16] = {};  // the source as it was at issue, zero-filled past src-size
};

struct Thread {
  uint32_t tid = 0;  // linear index in the block
  device::Index3 idx{};
  uint32_t warp = 0, lane = 0;
  FiberContext fiber;
  ThreadState state = ThreadState::Runnable;
  bool spun = false;  // its last turn ended in a failed try_wait (or a loop of loads, see quiet_loads)
  // Loads of shared or global memory since its last store or
  // synchronisation in this turn: a thread that only loads for very long is
  // presumably spinning on memory nothing will change, and yields as spinning.
  uint64_t quiet_loads = 0;
  // What it waits on, for deadlock reports.
  const char* wait_what = "";
  const char* wait_site = "";
  uint32_t wait_arg0 = 0, wait_arg1 = 0;
  // cp.async: copies not yet committed, then committed groups, oldest first.
  std::vector<CpAsyncCopy> cp_uncommitted;
  std::deque<std::vector<CpAsyncCopy>> cp_groups;
};

// A collective in progress among a group of threads (a warp's lanes, or a
// warpgroup's 128 threads): each arriving member leaves a pointer to its
// operands; the last one to arrive runs the instruction for all of them.
struct Collective {
  const char* what = nullptr;  // nullptr: none in progress
  const char* site = "";
  uint32_t mask = 0;           // warp collectives: the lanes named
  uint32_t arrived = 0;
  uint8_t member_arrived[128] = {};
  void* member_data[128] = {};
};

// A warp's collectives in progress: lanes in disjoint masks may be in
// different ones at once (e.g. two half-warp shuffles interleaved).
struct WarpCollectives {
  Collective slots[4];
};

struct NamedBarrier {
  bool in_use = false;
  uint32_t arrived = 0;
  uint32_t expected = 0;  // 0: every thread of the block that has not exited
  const char* site = "";
};

// A TMA tile load waiting for its barrier's wait to land it.
struct PendingTma {
  uint32_t dst = 0;
  std::vector<uint8_t> box;
  std::vector<uint32_t> issuer_clock;  // the issuing thread's vector clock at issue
  uint32_t issuer = 0;
};

struct MbarrierState {
  ptx::Mbarrier barrier;
  std::vector<uint32_t> release_clock;    // joined from this phase's arrivals and landed copies
  std::vector<uint32_t> completed_clock;  // of the last completed phase: what a successful wait acquires
  std::vector<PendingTma> pending;
};

// The wgmma kinds the emulation computes.
enum class WgmmaKind { E4M3, BF16 };

struct WgmmaOp {
  WgmmaKind kind = WgmmaKind::E4M3;
  int n = 0;
  uint64_t desc_a = 0, desc_b = 0;
  bool scale_d = false;
  int trans_a = 0, trans_b = 0;    // bf16: the imm-trans immediates
  std::vector<float*> d;           // each thread's registers
  std::vector<float> d_in;         // their values at issue (64 x n), when no earlier op in flight writes them
  bool chained = false;            // an earlier op in flight writes the same registers: use its result
  std::vector<uint8_t> operands;   // the shared-memory bytes it read at issue, in the order it read them
  uint32_t read_clock = 0;         // its reads' clock as the warpgroup's wgmma proxy
};

struct WarpgroupAsync {
  std::vector<WgmmaOp> uncommitted;
  std::deque<std::vector<WgmmaOp>> groups;
};

// Shadow of one shared-memory byte: the last write and the last read, as
// (thread, that thread's clock at the access). Thread indices past the
// block's threads are the asynchronous proxies (TMA, each warpgroup's wgmma).
struct ShadowByte {
  uint32_t write_thread, write_clock, read_thread, read_clock;
};
constexpr uint32_t NO_THREAD = 0xFFFFFFFFu;

struct Block {
  const GridLaunch* launch = nullptr;
  device::Index3 block_idx{}, block_dim{}, grid_dim{};
  std::vector<Thread> threads;
  Thread* running = nullptr;  // the thread whose fiber runs now
  uint32_t live = 0;
  uint64_t progress = 0;  // bumps whenever a waiting thread could have been released

  // Vector clocks: row t is thread t's; clock_width = threads + proxies.
  uint32_t clock_width = 0;
  std::vector<uint32_t> clocks;
  uint32_t* clock_of(uint32_t t) { return clocks.data() + static_cast<size_t>(t) * clock_width; }
  uint32_t tma_proxy() const { return static_cast<uint32_t>(threads.size()); }
  uint32_t wgmma_proxy(uint32_t warpgroup) const { return static_cast<uint32_t>(threads.size()) + 1 + warpgroup; }
  std::vector<uint32_t> proxy_clock;  // each proxy's own clock (index t - threads)

  NamedBarrier barriers[16];
  std::vector<std::vector<uint32_t>> warp_members;       // per warp: its 32 threads
  std::vector<std::vector<uint32_t>> warpgroup_members;  // per warpgroup: its 128 threads
  std::vector<WarpCollectives> warp_collectives;  // per warp
  std::vector<Collective> warpgroup_collectives;  // per warpgroup
  std::vector<WarpgroupAsync> wgmma;              // per warpgroup
  std::unordered_map<uint32_t, MbarrierState> mbarriers;

  // Shared memory: dynamic window and static (TLS) range, with shadows.
  uint8_t* dynamic_host = nullptr;  // host address of shared address DYNAMIC_BASE
  size_t dynamic_bytes = 0;
  size_t window_bytes = 0;          // the mapped window from shared address 0: accesses anywhere in it are checked
  uint8_t* static_host = nullptr;
  size_t static_bytes = 0;
  ShadowByte* dynamic_shadow = nullptr;
  uint8_t* dynamic_pending = nullptr;
  ShadowByte* static_shadow = nullptr;
  uint8_t* static_pending = nullptr;

  // The kernel instruction whose load or store is being checked (set by
  // the access hooks), for reports.
  const void* access_pc = nullptr;

  bool faulted = false;
  KernelFault fault;
};

// Shared addresses: dynamic shared memory starts at DYNAMIC_BASE, 128-byte
// aligned but deliberately not 1024-byte aligned, so a kernel that assumes
// more alignment than it asked for is caught; static __shared__ variables
// (which live elsewhere in the emulation) get addresses from STATIC_BASE.
constexpr uint32_t DYNAMIC_BASE = 0x480;
constexpr uint32_t STATIC_BASE = 0x01000000;

// The block and thread running on this OS thread (null outside a kernel).
Block* current_block();
Thread* current_thread();
// current_block() in one thread-local read, for the access hooks.
Block* running_block();

// Ends the kernel with a failure: records it (the first one wins) and
// switches to the scheduler for good.
[[noreturn]] void fail(int cuda_error, const std::string& what);
// "kernel gemm_v2_kernel, block (3,0,0), thread (17,0,0) (warp 0, lane 17)"
std::string where(const Thread& t);

// Releases barrier `id` if every thread it waits for has arrived (also
// after a thread exits: a whole-block barrier then needs one fewer).
void release_barrier_if_complete(Block& b, uint32_t id);

// " at libmoekit_kernels.so+0x1a2b (addr2line -e <path> 0x1a2b)" for a code
// address in the kernels, "" when unknown.
std::string code_location(const void* pc);

// Scheduling, from inside a fiber.
void yield_blocked();   // the thread's state says what it waits for
void yield_spinning();  // a try_wait failed: let the others run
void note_progress();

// Vector clocks.
void clock_tick(uint32_t t);
void clock_join(uint32_t* into, const uint32_t* from, uint32_t width);
void barrier_join(const std::vector<uint32_t>& members);

// The collective of the caller's warp that lanes of `mask` are in, or a
// free one; fails when another in progress names some of the same lanes.
Collective& warp_collective(uint32_t mask, const char* what, const char* site);

// Collectives: blocks until every member arrived, the last one runs
// `run(member_data)`. `members` are block thread indices; `mask` is the
// warp's lane mask for warp collectives (0 for warpgroups).
using CollectiveRun = void (*)(void* const* member_data, uint32_t count, void* context);
void collective(Collective& c, const std::vector<uint32_t>& members, uint32_t my_member, uint32_t mask,
                const char* what, const char* site, void* my_data, CollectiveRun run, void* context);

// Shared memory, by shared address: host pointer of [address, address +
// bytes) or a failure; checked reads and writes with race detection.
uint8_t* shared_host(uint32_t address, size_t bytes, const char* what);
void shared_read(uint32_t reader, uint32_t reader_clock_value, const uint32_t* reader_clock, uint32_t address, void* dst,
                 size_t bytes, const char* what);
void shared_write(uint32_t writer, uint32_t writer_clock_value, const uint32_t* writer_clock, uint32_t address,
                  const void* src, size_t bytes, const char* what);
// Marks bytes as the destination of an asynchronous copy in flight
// (poisoned; any access before it lands is a failure).
void shared_mark_pending(uint32_t address, size_t bytes, bool pending);
// The check every kernel load and store of shared memory goes through;
// `aligned`: an access the compiler emitted as aligned (2, 4, 8 or 16 bytes),
// which must then be.
void shared_access(const void* p, size_t bytes, bool write, bool aligned);
// An atomic on shared memory: bounds, alignment and copies in flight are
// checked; it is not a race with other atomics, so the shadow is untouched.
void shared_atomic(const void* p, size_t bytes);
bool shared_contains(const Block& b, const void* p);

}  // namespace emu
}  // namespace moekit
