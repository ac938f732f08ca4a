// Runs grids: every block in turn, each block's threads as fibers switched
// by a deterministic scheduler. A thread runs until it must wait (barrier,
// collective, failed try_wait, exit); the scheduler then resumes the next
// runnable thread in order (or in a seeded permutation of that order, with
// MOEKIT_EMU_SEED). When no thread can run, or every thread that can only
// spins without anything changing, the block is deadlocked and the report
// says what each warp waits for.
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include <cuda_runtime_api.h>

#include "block.h"
#include "grid.h"
#include "kernel_module.h"

namespace moekit {
namespace emu {

namespace {

// What one OS thread keeps from block to block.
struct Multiprocessor {
  FiberContext scheduler;
  FiberStacks stacks;
  Block* block = nullptr;
  Thread* thread = nullptr;
  uint8_t* window = nullptr;  // shared window: [0, DYNAMIC_BASE) unused, then dynamic bytes
  size_t window_bytes = 0;
  ShadowByte* dynamic_shadow = nullptr;
  uint8_t* dynamic_pending = nullptr;
  std::vector<ShadowByte> static_shadow;
  std::vector<uint8_t> static_pending;
};

thread_local Multiprocessor* sm = nullptr;

Multiprocessor& this_multiprocessor() {
  if (sm == nullptr) sm = new Multiprocessor();  // one per stream worker, kept for its life
  return *sm;
}

std::mutex& grid_lock() {
  static auto* m = new std::mutex();
  return *m;
}

uint64_t seed_from_env() {
  const char* s = std::getenv("MOEKIT_EMU_SEED");
  return s == nullptr || *s == '\0' ? 0 : std::strtoull(s, nullptr, 0);
}

void* map_bytes(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return p;
}

void prepare_shared_memory(Multiprocessor& m, Block& b) {
  const size_t need = DYNAMIC_BASE + b.launch->dynamic_smem;
  if (need > m.window_bytes) {
    const size_t bytes = std::max<size_t>(need, DYNAMIC_BASE + 256 * 1024);
    if (m.window != nullptr) {
      munmap(m.window, m.window_bytes);
      munmap(m.dynamic_shadow, m.window_bytes * sizeof(ShadowByte));
      munmap(m.dynamic_pending, m.window_bytes);
    }
    m.window = static_cast<uint8_t*>(map_bytes(bytes));
    m.dynamic_shadow = static_cast<ShadowByte*>(map_bytes(bytes * sizeof(ShadowByte)));
    m.dynamic_pending = static_cast<uint8_t*>(map_bytes(bytes));
    m.window_bytes = bytes;
  }
  // Fresh block: poisoned contents (0xFF: NaN in f32, bf16, f16 and e4m3),
  // no accesses recorded, nothing in flight.
  b.dynamic_host = m.window + DYNAMIC_BASE;
  b.dynamic_bytes = b.launch->dynamic_smem;
  b.window_bytes = m.window_bytes;
  std::memset(b.dynamic_host, 0xFF, b.dynamic_bytes);
  b.dynamic_shadow = m.dynamic_shadow;
  b.dynamic_pending = m.dynamic_pending;
  std::memset(static_cast<void*>(b.dynamic_shadow), 0xFF, b.dynamic_bytes * sizeof(ShadowByte));
  std::memset(b.dynamic_pending, 0, b.dynamic_bytes);

  const KernelTlsRange tls = kernel_static_shared();
  b.static_host = tls.base;
  b.static_bytes = tls.bytes;
  if (m.static_shadow.size() < tls.bytes) {
    m.static_shadow.resize(tls.bytes);
    m.static_pending.resize(tls.bytes);
  }
  if (tls.bytes > 0) std::memset(tls.base, 0xFF, tls.bytes);
  b.static_shadow = m.static_shadow.data();
  b.static_pending = m.static_pending.data();
  std::memset(static_cast<void*>(b.static_shadow), 0xFF, tls.bytes * sizeof(ShadowByte));
  std::memset(b.static_pending, 0, tls.bytes);
}

[[noreturn]] void fiber_main() {
  Multiprocessor& m = *sm;
  Block& b = *m.block;
  m.block->launch->body();
  Thread& t = *m.thread;
  t.state = ThreadState::Exited;
  --b.live;
  note_progress();
  for (uint32_t id = 0; id < 16; ++id) release_barrier_if_complete(b, id);
  switch_fiber(t.fiber, m.scheduler);
  std::abort();  // an exited fiber is never resumed
}

std::string lanes_text(const std::vector<uint32_t>& lanes) {
  std::string s;
  for (size_t i = 0; i < lanes.size();) {
    size_t j = i;
    while (j + 1 < lanes.size() && lanes[j + 1] == lanes[j] + 1) ++j;
    if (!s.empty()) s += ",";
    s += std::to_string(lanes[i]);
    if (j > i) s += "-" + std::to_string(lanes[j]);
    i = j + 1;
  }
  return s;
}

std::string describe_wait(const Block& b, const Thread& t) {
  std::ostringstream o;
  switch (t.state) {
    case ThreadState::Exited: o << "exited"; break;
    case ThreadState::AtBarrier:
      o << "waits at " << t.wait_what << " (" << t.wait_site << "), barrier " << t.wait_arg0 << ": "
        << b.barriers[t.wait_arg0].arrived << " of "
        << (b.barriers[t.wait_arg0].expected != 0 ? b.barriers[t.wait_arg0].expected : b.live) << " arrived";
      break;
    case ThreadState::InCollective: o << "waits in " << t.wait_what << " (" << t.wait_site << ") for the other lanes"; break;
    case ThreadState::Runnable:
      if (t.spun && std::strncmp(t.wait_what, "mbarrier", 8) != 0) {
        o << "spins in " << t.wait_what;
      } else if (t.spun) {
        o << "spins on " << t.wait_what << " at shared address 0x" << std::hex << t.wait_arg0 << std::dec << " for parity "
          << t.wait_arg1;
        const auto it = b.mbarriers.find(t.wait_arg0);
        if (it != b.mbarriers.end()) {
          const ptx::Mbarrier& mb = it->second.barrier;
          o << " (phase " << mb.phase << ", " << mb.pending << " of " << mb.expected << " arrivals and " << mb.tx
            << " transaction bytes outstanding)";
        }
      } else {
        o << "runnable";
      }
      break;
  }
  return o.str();
}

std::string deadlock_report(const Block& b) {
  std::ostringstream o;
  o << "deadlock in kernel " << b.launch->kernel << ", block (" << b.block_idx.x << "," << b.block_idx.y << ","
    << b.block_idx.z << "): no thread can make progress.";
  const uint32_t warps = static_cast<uint32_t>((b.threads.size() + 31) / 32);
  for (uint32_t w = 0; w < warps; ++w) {
    std::map<std::string, std::vector<uint32_t>> by_wait;
    for (uint32_t l = 0; l < 32 && w * 32 + l < b.threads.size(); ++l) {
      by_wait[describe_wait(b, b.threads[w * 32 + l])].push_back(l);
    }
    for (const auto& [what, lanes] : by_wait) {
      o << "\n  warp " << w << (lanes.size() == 1 ? " lane " : " lanes ") << lanes_text(lanes) << ": " << what;
    }
  }
  return o.str();
}

void set_fault(Block& b, int code, const std::string& report) {
  if (b.faulted) return;
  b.faulted = true;
  b.fault.code = code;
  b.fault.report = report;
}

void run_block(Multiprocessor& m, Block& b, uint64_t seed, uint64_t block_linear) {
  const uint32_t n = static_cast<uint32_t>(b.threads.size());
  for (uint32_t t = 0; t < n; ++t) {
    make_fiber(b.threads[t].fiber, m.stacks.stack(t), FiberStacks::STACK_BYTES, fiber_main);
  }
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed ^ (block_linear * 0x9E3779B97F4A7C15ull));
  while (b.live > 0 && !b.faulted) {
    if (seed != 0) std::shuffle(order.begin(), order.end(), rng);
    const uint64_t progress_before = b.progress;
    bool any_ran = false;
    bool all_spun = true;
    for (uint32_t i : order) {
      Thread& t = b.threads[i];
      if (t.state != ThreadState::Runnable) continue;
      any_ran = true;
      t.spun = false;
      t.quiet_loads = 0;
      m.thread = &t;
      b.running = &t;
      switch_fiber(m.scheduler, t.fiber);
      m.thread = nullptr;
      b.running = nullptr;
      if (b.faulted) break;
      if (!t.spun) all_spun = false;
    }
    if (b.faulted) break;
    if (!any_ran || (all_spun && b.progress == progress_before)) {
      set_fault(b, cudaErrorLaunchTimeout, deadlock_report(b));
    }
  }
}

}  // namespace

Block* current_block() { return sm == nullptr ? nullptr : (sm->thread == nullptr ? nullptr : sm->block); }
Thread* current_thread() { return sm == nullptr ? nullptr : sm->thread; }
Block* running_block() {
  const Multiprocessor* m = sm;
  return m == nullptr || m->thread == nullptr ? nullptr : m->block;
}

std::string where(const Thread& t) {
  const Block& b = *sm->block;
  std::ostringstream o;
  o << "kernel " << b.launch->kernel << ", block (" << b.block_idx.x << "," << b.block_idx.y << "," << b.block_idx.z
    << "), thread (" << t.idx.x << "," << t.idx.y << "," << t.idx.z << ") (warp " << t.warp << ", lane " << t.lane << ")";
  return o.str();
}

void fail(int cuda_error, const std::string& what) {
  Multiprocessor& m = *sm;
  Thread& t = *m.thread;
  set_fault(*m.block, cuda_error, what + " [" + where(t) + "]");
  t.state = ThreadState::Exited;
  switch_fiber(t.fiber, m.scheduler);
  std::abort();  // a failed thread is never resumed
}

void yield_blocked() {
  Multiprocessor& m = *sm;
  switch_fiber(m.thread->fiber, m.scheduler);
}

void yield_spinning() {
  Multiprocessor& m = *sm;
  m.thread->spun = true;
  switch_fiber(m.thread->fiber, m.scheduler);
}

void note_progress() { ++sm->block->progress; }

void clock_tick(uint32_t t) { ++sm->block->clock_of(t)[t]; }

void clock_join(uint32_t* into, const uint32_t* from, uint32_t width) {
  for (uint32_t i = 0; i < width; ++i) into[i] = std::max(into[i], from[i]);
}

void barrier_join(const std::vector<uint32_t>& members) {
  Block& b = *sm->block;
  std::vector<uint32_t> joined(b.clock_width, 0);
  for (uint32_t t : members) clock_join(joined.data(), b.clock_of(t), b.clock_width);
  for (uint32_t t : members) {
    std::memcpy(b.clock_of(t), joined.data(), b.clock_width * sizeof(uint32_t));
    ++b.clock_of(t)[t];
  }
}

bool run_grid(const GridLaunch& launch, KernelFault* fault) {
  std::lock_guard<std::mutex> lock(grid_lock());
  Multiprocessor& m = this_multiprocessor();
  const uint64_t seed = seed_from_env();
  const uint32_t threads = static_cast<uint32_t>(launch.block.count());
  const uint32_t warpgroups = (threads + 127) / 128;
  uint64_t linear = 0;
  for (uint32_t bz = 0; bz < launch.grid.z; ++bz) {
    for (uint32_t by = 0; by < launch.grid.y; ++by) {
      for (uint32_t bx = 0; bx < launch.grid.x; ++bx, ++linear) {
        Block b;
        b.launch = &launch;
        b.block_idx = {bx, by, bz};
        b.block_dim = {launch.block.x, launch.block.y, launch.block.z};
        b.grid_dim = {launch.grid.x, launch.grid.y, launch.grid.z};
        b.threads.resize(threads);
        for (uint32_t t = 0; t < threads; ++t) {
          Thread& th = b.threads[t];
          th.tid = t;
          th.idx = {t % launch.block.x, (t / launch.block.x) % launch.block.y, t / (launch.block.x * launch.block.y)};
          th.warp = t / 32;
          th.lane = t % 32;
        }
        b.live = threads;
        b.clock_width = threads + 1 + warpgroups;
        b.clocks.assign(static_cast<size_t>(b.clock_width) * b.clock_width, 0);
        for (uint32_t t = 0; t < threads; ++t) b.clock_of(t)[t] = 1;
        b.proxy_clock.assign(1 + warpgroups, 0);
        b.warp_collectives.resize((threads + 31) / 32);
        b.warp_members.resize((threads + 31) / 32);
        for (uint32_t t = 0; t < threads; ++t) b.warp_members[t / 32].push_back(t);
        b.warpgroup_members.resize(threads / 128);
        for (uint32_t t = 0; t < threads / 128 * 128; ++t) b.warpgroup_members[t / 128].push_back(t);
        b.warpgroup_collectives.resize(warpgroups);
        b.wgmma.resize(warpgroups);
        m.block = &b;
        prepare_shared_memory(m, b);
        run_block(m, b, seed, linear);
        m.block = nullptr;
        if (b.faulted) {
          *fault = b.fault;
          return false;
        }
      }
    }
  }
  return true;
}

}  // namespace emu
}  // namespace moekit
