// Block barriers and warp collectives.
//
// __syncthreads / bar.sync: a thread arriving blocks until the barrier's
// count is reached (the whole block: every thread that has not exited);
// the arrivals then join their vector clocks, which is what orders the
// shared-memory accesses before the barrier against those after it.
//
// Warp collectives (shuffles, votes, __syncwarp, mma.sync, ldmatrix): every
// lane named in the mask must arrive at the same instruction with the same
// mask; the last to arrive computes the result for all. A lane that calls a
// different collective while one is in progress, a mask that omits the
// caller, or a named lane that has exited fails the kernel.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "hex.h"
#include "block.h"

namespace moekit {
namespace emu {

namespace {


}  // namespace

Collective& warp_collective(uint32_t mask, const char* what, const char* site) {
  Block& b = *current_block();
  Collective* free = nullptr;
  for (Collective& c : b.warp_collectives[current_thread()->warp].slots) {
    if (c.what == nullptr) {
      if (free == nullptr) free = &c;
    } else if (c.mask == mask) {
      return c;
    } else if ((c.mask & mask) != 0) {
      fail(cudaErrorLaunchFailure, std::string("divergent warp collective: this lane calls ") + what + " with mask " + hex(mask) +
                                       " (" + site + ") while lanes it names wait in " + c.what + " with mask " + hex(c.mask) +
                                       " (" + c.site + ")");
    }
  }
  if (free == nullptr) fail(cudaErrorLaunchFailure, std::string(what) + " (" + site + "): more than 4 collectives with disjoint masks in progress in one warp");
  return *free;
}

void collective(Collective& c, const std::vector<uint32_t>& members, uint32_t my_member, uint32_t mask, const char* what,
                const char* site, void* my_data, CollectiveRun run, void* context) {
  Block& b = *current_block();
  Thread& me = *current_thread();
  if (c.what != nullptr && (std::strcmp(c.what, what) != 0 || c.mask != mask)) {
    fail(cudaErrorLaunchFailure, std::string("divergent warp collective: this lane calls ") + what + " with mask " + hex(mask) +
                                     " (" + site + ") while other lanes wait in " + c.what + " with mask " + hex(c.mask) +
                                     " (" + c.site + ")");
  }
  if (c.what == nullptr) {
    c.what = what;
    c.site = site;
    c.mask = mask;
    c.arrived = 0;
    std::memset(c.member_arrived, 0, members.size());
  }
  c.member_arrived[my_member] = 1;
  c.member_data[my_member] = my_data;
  ++c.arrived;
  // Everyone named must still be alive to arrive.
  for (size_t i = 0; b.live < b.threads.size() && i < members.size(); ++i) {
    const Thread& t = b.threads[members[i]];
    if (!c.member_arrived[i] && t.state == ThreadState::Exited) {
      fail(cudaErrorLaunchFailure, std::string(what) + " (" + site + ") names lane " + std::to_string(t.lane) +
                                       " of warp " + std::to_string(t.warp) + ", which has exited");
    }
  }
  if (c.arrived < members.size()) {
    me.state = ThreadState::InCollective;
    me.wait_what = what;
    me.wait_site = site;
    yield_blocked();
    return;  // the last arrival ran the instruction for this lane too
  }
  run(c.member_data, static_cast<uint32_t>(members.size()), context);
  for (uint32_t t : members) {
    if (t != me.tid) b.threads[t].state = ThreadState::Runnable;
  }
  c.what = nullptr;
  note_progress();
}

namespace {

// The lanes of the caller's warp named by `mask`, in lane order, and the
// caller's position among them.
const std::vector<uint32_t>& warp_members(uint32_t mask, const char* what, const char* site, uint32_t* me_index) {
  Block& b = *current_block();
  Thread& me = *current_thread();
  if ((mask & (1u << me.lane)) == 0) {
    fail(cudaErrorLaunchFailure, std::string(what) + " (" + site + ") called by lane " + std::to_string(me.lane) +
                                     ", which its mask " + hex(mask) + " does not include");
  }
  const std::vector<uint32_t>& whole = b.warp_members[me.warp];
  if (mask == 0xFFFFFFFFu && whole.size() == 32) {
    *me_index = me.lane;
    return whole;
  }
  thread_local std::vector<uint32_t> members;
  members.clear();
  for (uint32_t l = 0; l < 32; ++l) {
    if ((mask & (1u << l)) == 0) continue;
    if (l >= whole.size()) {
      fail(cudaErrorLaunchFailure, std::string(what) + " (" + site + ") names lane " + std::to_string(l) +
                                       ", which this partial warp does not have");
    }
    if (l == me.lane) *me_index = static_cast<uint32_t>(members.size());
    members.push_back(whole[l]);
  }
  return members;
}

struct ShuffleLane {
  uint32_t value;
  int lane_or_delta;
  int width;
  uint32_t lane;
  uint32_t result;
};

struct ShuffleContext {
  device::Shuffle kind;
  uint32_t mask;
};

void run_shuffle(void* const* data, uint32_t count, void* context) {
  const auto& ctx = *static_cast<ShuffleContext*>(context);
  ShuffleLane* by_lane[32] = {};
  for (uint32_t i = 0; i < count; ++i) {
    auto* l = static_cast<ShuffleLane*>(data[i]);
    by_lane[l->lane] = l;
  }
  for (uint32_t i = 0; i < count; ++i) {
    auto* l = static_cast<ShuffleLane*>(data[i]);
    const int width = l->width;
    const int segment = static_cast<int>(l->lane) & ~(width - 1);
    int src = static_cast<int>(l->lane);
    switch (ctx.kind) {
      case device::Shuffle::Index: src = segment + (l->lane_or_delta & (width - 1)); break;
      case device::Shuffle::Up:
        src = static_cast<int>(l->lane) - l->lane_or_delta;
        if (src < segment) src = static_cast<int>(l->lane);
        break;
      case device::Shuffle::Down:
        src = static_cast<int>(l->lane) + l->lane_or_delta;
        if (src >= segment + width) src = static_cast<int>(l->lane);
        break;
      case device::Shuffle::Xor:
        src = static_cast<int>(l->lane) ^ l->lane_or_delta;
        if (src >= segment + width) src = static_cast<int>(l->lane);
        break;
    }
    // A source lane outside the mask gives an undefined value (legal when
    // the caller discards it, as partial-mask reductions do): poison.
    l->result = src >= 0 && src < 32 && by_lane[src] != nullptr ? by_lane[src]->value : 0xFFFFFFFFu;
  }
}

struct BallotLane {
  bool predicate;
  uint32_t lane;
  uint32_t result;
};

void run_ballot(void* const* data, uint32_t count, void*) {
  uint32_t bits = 0;
  for (uint32_t i = 0; i < count; ++i) {
    auto* l = static_cast<BallotLane*>(data[i]);
    if (l->predicate) bits |= 1u << l->lane;
  }
  for (uint32_t i = 0; i < count; ++i) static_cast<BallotLane*>(data[i])->result = bits;
}

struct SyncwarpContext {
  const std::vector<uint32_t>* members;
};

void run_syncwarp(void* const*, uint32_t, void* context) { barrier_join(*static_cast<SyncwarpContext*>(context)->members); }

}  // namespace

void release_barrier_if_complete(Block& b, uint32_t id) {
  NamedBarrier& bar = b.barriers[id];
  if (!bar.in_use || bar.arrived == 0) return;
  const uint32_t needed = bar.expected != 0 ? bar.expected : b.live;
  if (bar.arrived < needed) return;
  std::vector<uint32_t> members;
  for (Thread& t : b.threads) {
    if (t.state == ThreadState::AtBarrier && t.wait_arg0 == id) members.push_back(t.tid);
  }
  barrier_join(members);
  for (uint32_t t : members) b.threads[t].state = ThreadState::Runnable;
  bar = NamedBarrier{};
  note_progress();
}

namespace device {

const Index3& thread_idx() { return current_thread()->idx; }
const Index3& block_idx() { return current_block()->block_idx; }
const Index3& block_dim() { return current_block()->block_dim; }
const Index3& grid_dim() { return current_block()->grid_dim; }

void barrier_sync(unsigned id, unsigned count, const char* site) {
  Block& b = *current_block();
  Thread& me = *current_thread();
  const char* what = id == 0 && count == 0 ? "__syncthreads" : "bar.sync";
  if (id >= 16) fail(cudaErrorLaunchFailure, std::string(what) + " (" + site + "): barrier " + std::to_string(id) + " does not exist (0..15)");
  if (count != 0 && (count % 32 != 0 || count > b.threads.size())) {
    fail(cudaErrorLaunchFailure, std::string(what) + " (" + site + "): thread count " + std::to_string(count) +
                                     " must be a multiple of 32 no larger than the block");
  }
  NamedBarrier& bar = b.barriers[id];
  if (!bar.in_use) {
    bar.in_use = true;
    bar.expected = count;
    bar.site = site;
  } else if (bar.expected != count) {
    fail(cudaErrorLaunchFailure, std::string(what) + " (" + site + "): barrier " + std::to_string(id) + " used with " +
                                     std::to_string(count) + " threads while others wait for " + std::to_string(bar.expected) +
                                     " (" + bar.site + ")");
  }
  ++bar.arrived;
  me.state = ThreadState::AtBarrier;
  me.wait_what = what;
  me.wait_site = site;
  me.wait_arg0 = id;
  release_barrier_if_complete(b, id);
  if (me.state == ThreadState::AtBarrier) yield_blocked();
}

void syncthreads(const char* site) { barrier_sync(0, 0, site); }

void syncwarp(uint32_t mask, const char* site) {
  uint32_t me = 0;
  const std::vector<uint32_t>& members = warp_members(mask, "__syncwarp", site, &me);
  SyncwarpContext ctx{&members};
  collective(warp_collective(mask, "__syncwarp", site), members, me, mask, "__syncwarp", site, nullptr,
             run_syncwarp, &ctx);
}

uint32_t shuffle(Shuffle kind, uint32_t mask, uint32_t value, int lane_or_delta, int width, const char* site) {
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0) {
    fail(cudaErrorLaunchFailure, std::string("shuffle (") + site + "): width " + std::to_string(width) + " is not a power of two up to 32");
  }
  uint32_t me = 0;
  const std::vector<uint32_t>& members = warp_members(mask, "__shfl_sync", site, &me);
  ShuffleLane lane{value, lane_or_delta, width, current_thread()->lane, 0};
  ShuffleContext ctx{kind, mask};
  collective(warp_collective(mask, "__shfl_sync", site), members, me, mask, "__shfl_sync", site, &lane,
             run_shuffle, &ctx);
  return lane.result;
}

uint32_t ballot(uint32_t mask, bool predicate, const char* site) {
  uint32_t me = 0;
  const std::vector<uint32_t>& members = warp_members(mask, "__ballot_sync", site, &me);
  BallotLane lane{predicate, current_thread()->lane, 0};
  collective(warp_collective(mask, "__ballot_sync", site), members, me, mask, "__ballot_sync", site, &lane,
             run_ballot, nullptr);
  return lane.result & mask;
}

uint32_t active_mask() {
  // Lanes that have not exited. The emulation does not track branch
  // divergence, so inside a divergent branch this names more lanes than a
  // GPU's __activemask() would.
  Block& b = *current_block();
  const uint32_t warp = current_thread()->warp;
  uint32_t m = 0;
  for (uint32_t l = 0; l < 32; ++l) {
    const uint32_t t = warp * 32 + l;
    if (t < b.threads.size() && b.threads[t].state != ThreadState::Exited) m |= 1u << l;
  }
  return m;
}

void trap(const char* what, const char* site) { fail(cudaErrorLaunchFailure, std::string(what) + " at " + site); }

}  // namespace device
}  // namespace emu
}  // namespace moekit
