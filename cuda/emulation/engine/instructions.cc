// The instruction wrappers of cuda/common on the emulated GPU: this file
// gathers the lanes (warp and warpgroup collectives), checks and moves the
// data, and tracks the asynchronous operations; what each instruction
// computes comes from ../ptx (written from the PTX ISA, independently of
// the kernels' own layout helpers).
//
// Asynchronous operations land at their completion point, never earlier:
//   cp.async   at the issuing thread's cp.async.wait_group;
//   TMA loads  when a thread waits on their mbarrier (the copy then
//              completes its transaction bytes, which may complete the phase);
//   wgmma      at wgmma.wait_group (the accumulator registers are NaN from
//              issue until then).
// Until a copy lands its destination is poisoned and any access to it fails.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "hex.h"
#include "block.h"
#include "memory.h"

namespace moekit {
namespace emu {

namespace {


[[noreturn]] void misuse(const char* site, const std::string& what) { fail(cudaErrorLaunchFailure, std::string(site) + ": " + what); }

const std::vector<uint32_t>& warp_lanes() {
  Block& b = *current_block();
  const uint32_t warp = current_thread()->warp;
  if ((warp + 1) * 32 > b.threads.size()) fail(cudaErrorLaunchFailure, "a warp-wide instruction in a partial warp");
  return b.warp_members[warp];
}

const std::vector<uint32_t>& warpgroup_threads(const char* site) {
  Block& b = *current_block();
  const uint32_t wg = current_thread()->tid / 128;
  if ((wg + 1) * 128 > b.threads.size()) misuse(site, "needs a whole warpgroup of 128 threads; the block has " + std::to_string(b.threads.size()));
  return b.warpgroup_members[wg];
}

// Global memory the copy engines read: checked against the live allocations.
void global_read(const void* p, void* dst, size_t bytes, const char* what) {
  if (in_arena(p)) {
    Allocation a;
    std::string why;
    if (!find_allocation(p, bytes, &a, &why)) {
      fail(cudaErrorIllegalAddress, std::string("out-of-bounds global-memory read by ") + what + " of " + std::to_string(bytes) +
                                        " bytes at " + hex(reinterpret_cast<uintptr_t>(p)) + ": " + why);
    }
  }
  std::memcpy(dst, p, bytes);
}

// Shared memory as ldmatrix reads it: each row on behalf of the lane that
// named its address (wgmma reads go through OperandRecorder below).
class LaneShared : public ptx::SharedMemory {
 public:
  explicit LaneShared(const uint32_t* lane_threads) : lanes_(lane_threads) {}
  bool read(int lane, uint32_t address, void* dst, size_t bytes) override {
    Block& b = *current_block();
    const uint32_t t = lanes_[lane];
    shared_read(t, b.clock_of(t)[t], b.clock_of(t), address, dst, bytes, "ldmatrix reads");
    return true;
  }

 private:
  const uint32_t* lanes_;
};

// ---- mbarriers ------------------------------------------------------------------

MbarrierState& barrier_at(uint32_t bar, const char* site, bool must_exist) {
  Block& b = *current_block();
  if (bar % 8 != 0) misuse(site, "mbarrier address " + hex(bar) + " is not 8-byte aligned");
  (void)shared_host(bar, 8, "an mbarrier");
  auto it = b.mbarriers.find(bar);
  if (it == b.mbarriers.end()) {
    if (must_exist) misuse(site, "mbarrier at shared address " + hex(bar) + " was never initialised");
    it = b.mbarriers.emplace(bar, MbarrierState{}).first;
  }
  if (must_exist && !it->second.barrier.initialised) misuse(site, "mbarrier at shared address " + hex(bar) + " was never initialised");
  return it->second;
}

void phase_completed(MbarrierState& m) {
  m.completed_clock = m.release_clock;
  std::fill(m.release_clock.begin(), m.release_clock.end(), 0);
  note_progress();
}

void check_ptx(bool ok, const char* site, const std::string& why) {
  if (!ok) misuse(site, why);
}

// Lands every TMA copy waiting on barrier `m`: writes the boxes (as the TMA
// proxy, checked against what their issuer had seen) and completes their
// transaction bytes.
void land_tma(Block& b, uint32_t bar, MbarrierState& m, const char* site) {
  while (!m.pending.empty()) {
    PendingTma copy = std::move(m.pending.front());
    m.pending.erase(m.pending.begin());
    shared_mark_pending(copy.dst, copy.box.size(), false);
    const uint32_t proxy = b.tma_proxy();
    const uint32_t clock = ++b.proxy_clock[0];
    copy.issuer_clock[proxy] = clock;
    shared_write(proxy, clock, copy.issuer_clock.data(), copy.dst, copy.box.data(), copy.box.size(), "a TMA load lands in");
    m.release_clock[proxy] = std::max(m.release_clock[proxy], clock);
    bool completed = false;
    std::string why;
    check_ptx(ptx::mbarrier_complete_tx(m.barrier, static_cast<uint32_t>(copy.box.size()), &completed, &why), site,
              "mbarrier " + hex(bar) + ": " + why);
    if (completed) phase_completed(m);
  }
}

// ---- mma.sync and ldmatrix -------------------------------------------------------

struct MmaLane {
  float* d;
  const uint32_t* a;
  const uint32_t* b;
};

struct MmaContext {
  bool k32;
  ptx::Format fa, fb;
};

void run_mma(void* const* data, uint32_t count, void* context) {
  const auto& ctx = *static_cast<MmaContext*>(context);
  uint32_t a[32][4], bm[32][2];
  float c[32][4], d[32][4];
  for (uint32_t l = 0; l < count; ++l) {
    const auto* m = static_cast<MmaLane*>(data[l]);
    for (int r = 0; r < 4; ++r) a[l][r] = m->a[r], c[l][r] = m->d[r];
    for (int r = 0; r < 2; ++r) bm[l][r] = m->b[r];
  }
  if (ctx.k32) {
    ptx::mma_m16n8k32(ctx.fa, ctx.fb, a, bm, c, d);
  } else {
    ptx::mma_m16n8k16(ctx.fa, a, bm, c, d);
  }
  for (uint32_t l = 0; l < count; ++l) {
    auto* m = static_cast<MmaLane*>(data[l]);
    for (int r = 0; r < 4; ++r) m->d[r] = d[l][r];
  }
}

struct LdmatrixLane {
  uint32_t address;
  uint32_t* regs;
};

struct LdmatrixContext {
  int num;
  bool trans;
  const char* site;
  const std::vector<uint32_t>* lanes;
};

void run_ldmatrix(void* const* data, uint32_t, void* context) {
  const auto& ctx = *static_cast<LdmatrixContext*>(context);
  uint32_t address[32];
  uint32_t out[32][4] = {};
  for (int l = 0; l < 32; ++l) address[l] = static_cast<LdmatrixLane*>(data[l])->address;
  LaneShared smem(ctx.lanes->data());
  std::string why;
  check_ptx(ptx::ldmatrix(ctx.num, ctx.trans, address, smem, out, &why), ctx.site, why);
  for (int l = 0; l < 32; ++l) {
    auto* lane = static_cast<LdmatrixLane*>(data[l]);
    for (int r = 0; r < ctx.num; ++r) lane->regs[r] = out[l][r];
  }
}

ptx::Format format_of(int f) {
  switch (f) {
    case 0: return ptx::Format::BF16;
    case 1: return ptx::Format::F16;
    case 2: return ptx::Format::E4M3;
    default: return ptx::Format::E5M2;
  }
}

// ---- wgmma -------------------------------------------------------------------------

// Shared memory a wgmma read at issue, replayed at its wait: the operands
// are checked (in flight, races) when the instruction is issued, as the GPU
// may read them any time from then on, and the product is computed at the
// wait from what was read.
class OperandRecorder : public ptx::SharedMemory {
 public:
  OperandRecorder(uint32_t proxy, uint32_t proxy_clock, const uint32_t* view, std::vector<uint8_t>* bytes)
      : proxy_(proxy), proxy_clock_(proxy_clock), view_(view), bytes_(bytes) {}
  bool read(int, uint32_t address, void* dst, size_t bytes) override {
    shared_read(proxy_, proxy_clock_, view_, address, dst, bytes, "wgmma reads");
    const auto* p = static_cast<const uint8_t*>(dst);
    bytes_->insert(bytes_->end(), p, p + bytes);
    return true;
  }

 private:
  uint32_t proxy_, proxy_clock_;
  const uint32_t* view_;
  std::vector<uint8_t>* bytes_;
};

class OperandReplay : public ptx::SharedMemory {
 public:
  explicit OperandReplay(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  bool read(int, uint32_t, void* dst, size_t bytes) override {
    std::memcpy(dst, bytes_.data() + at_, bytes);
    at_ += bytes;
    return true;
  }

 private:
  const std::vector<uint8_t>& bytes_;
  size_t at_ = 0;
};

struct WgmmaLane {
  WgmmaKind kind;
  int n;
  float* d;
  uint64_t desc_a, desc_b;
  bool scale_d;
  int trans_a, trans_b;
};

// The product of one op, by kind.
bool compute_wgmma(const WgmmaOp& op, bool scale_d, ptx::SharedMemory& smem, float* acc, std::string* why) {
  if (op.kind == WgmmaKind::BF16) {
    return ptx::wgmma_m64nk16_bf16(op.n, op.desc_a, op.desc_b, scale_d, op.trans_a, op.trans_b, smem, acc, why);
  }
  return ptx::wgmma_m64nk32_e4m3(op.n, op.desc_a, op.desc_b, scale_d, smem, acc, why);
}

struct WgmmaContext {
  uint32_t warpgroup;
  const char* site;
};

void run_wgmma_issue(void* const* data, uint32_t count, void* context) {
  const auto& ctx = *static_cast<WgmmaContext*>(context);
  Block& b = *current_block();
  const auto* first = static_cast<WgmmaLane*>(data[0]);
  WgmmaOp op;
  op.kind = first->kind;
  op.n = first->n;
  op.desc_a = first->desc_a;
  op.desc_b = first->desc_b;
  op.scale_d = first->scale_d;
  op.trans_a = first->trans_a;
  op.trans_b = first->trans_b;
  for (uint32_t t = 0; t < count; ++t) {
    const auto* l = static_cast<WgmmaLane*>(data[t]);
    if (l->kind != op.kind || l->n != op.n || l->desc_a != op.desc_a || l->desc_b != op.desc_b || l->scale_d != op.scale_d ||
        l->trans_a != op.trans_a || l->trans_b != op.trans_b) {
      misuse(ctx.site, "the threads of warpgroup " + std::to_string(ctx.warpgroup) +
                           " issue different wgmmas (type, shape, descriptors, scale-d or transposes differ; they must be identical)");
    }
    op.d.push_back(l->d);
  }
  // Read and check the operands now, with what the warpgroup's threads have
  // seen; the reads are the warpgroup's wgmma proxy's, which its threads
  // only "see" at the wait (a store into an operand before then is a race).
  {
    std::vector<uint32_t> view(b.clock_width, 0);
    for (uint32_t t : b.warpgroup_members[ctx.warpgroup]) clock_join(view.data(), b.clock_of(t), b.clock_width);
    const uint32_t proxy = b.wgmma_proxy(ctx.warpgroup);
    const uint32_t clock = ++b.proxy_clock[1 + ctx.warpgroup];
    view[proxy] = clock;
    op.read_clock = clock;
    OperandRecorder recorder(proxy, clock, view.data(), &op.operands);
    std::vector<float> scratch(static_cast<size_t>(64) * op.n, 0.0f);
    std::string why;
    check_ptx(compute_wgmma(op, false, recorder, scratch.data(), &why), ctx.site, why);
  }
  WarpgroupAsync& wg = b.wgmma[ctx.warpgroup];
  const auto writes_same = [&](const std::vector<WgmmaOp>& ops) {
    for (const WgmmaOp& o : ops) {
      if (o.d[0] == op.d[0]) return true;
    }
    return false;
  };
  op.chained = writes_same(wg.uncommitted);
  for (const auto& g : wg.groups) op.chained = op.chained || writes_same(g);
  const int regs = op.n / 2;
  if (!op.chained) {
    op.d_in.assign(static_cast<size_t>(64) * op.n, 0.0f);
    for (uint32_t t = 0; t < 128; ++t) {
      for (int r = 0; r < regs; ++r) {
        int row = 0, col = 0;
        ptx::wgmma_accumulator_coord(op.n, static_cast<int>(t), r, &row, &col);
        op.d_in[static_cast<size_t>(row) * op.n + col] = op.d[t][r];
      }
    }
  }
  // Touching the accumulators before the wait is undefined: they read NaN.
  for (uint32_t t = 0; t < 128; ++t) {
    for (int r = 0; r < regs; ++r) op.d[t][r] = std::numeric_limits<float>::quiet_NaN();
  }
  wg.uncommitted.push_back(std::move(op));
}

void run_wgmma_commit(void* const*, uint32_t, void* context) {
  const auto& ctx = *static_cast<WgmmaContext*>(context);
  WarpgroupAsync& wg = current_block()->wgmma[ctx.warpgroup];
  wg.groups.push_back(std::move(wg.uncommitted));
  wg.uncommitted.clear();
}

struct WaitContext {
  uint32_t warpgroup;
  int pending;
  const char* site;
  const std::vector<uint32_t>* members;
};

void run_wgmma_wait(void* const*, uint32_t, void* context) {
  const auto& ctx = *static_cast<WaitContext*>(context);
  Block& b = *current_block();
  WarpgroupAsync& wg = b.wgmma[ctx.warpgroup];
  const uint32_t proxy = b.wgmma_proxy(ctx.warpgroup);
  uint32_t completed = 0;  // the proxy clock of the latest op this wait completes
  std::vector<float> acc;
  while (wg.groups.size() > static_cast<size_t>(ctx.pending)) {
    for (WgmmaOp& op : wg.groups.front()) {
      const int regs = op.n / 2;
      acc.assign(static_cast<size_t>(64) * op.n, 0.0f);
      for (uint32_t t = 0; t < 128; ++t) {
        for (int r = 0; r < regs; ++r) {
          int row = 0, col = 0;
          ptx::wgmma_accumulator_coord(op.n, static_cast<int>(t), r, &row, &col);
          const size_t i = static_cast<size_t>(row) * op.n + col;
          acc[i] = op.chained ? op.d[t][r] : op.d_in[i];
        }
      }
      completed = std::max(completed, op.read_clock);
      OperandReplay smem(op.operands);
      std::string why;
      check_ptx(compute_wgmma(op, op.scale_d, smem, acc.data(), &why), ctx.site, why);
      for (uint32_t t = 0; t < 128; ++t) {
        for (int r = 0; r < regs; ++r) {
          int row = 0, col = 0;
          ptx::wgmma_accumulator_coord(op.n, static_cast<int>(t), r, &row, &col);
          op.d[t][r] = acc[static_cast<size_t>(row) * op.n + col];
        }
      }
    }
    wg.groups.pop_front();
  }
  // The wait makes the wgmmas' shared-memory reads part of what each
  // thread has seen (so a later release orders them).
  for (uint32_t t : *ctx.members) {
    uint32_t* c = b.clock_of(t);
    c[proxy] = std::max(c[proxy], completed);
  }
}

void run_nothing(void* const*, uint32_t, void*) {}

}  // namespace

namespace device {

// ---- cp.async ----------------------------------------------------------------------

void cp_async(uint32_t dst, const void* src, int cp_size, int src_size, const char* site) {
  Block& b = *current_block();
  Thread& t = *current_thread();
  if (cp_size != 4 && cp_size != 8 && cp_size != 16) misuse(site, "cp-size " + std::to_string(cp_size) + " (4, 8 or 16)");
  if (src_size < 0 || src_size > cp_size) misuse(site, "src-size " + std::to_string(src_size) + " exceeds cp-size " + std::to_string(cp_size));
  if (dst % static_cast<uint32_t>(cp_size) != 0) fail(cudaErrorMisalignedAddress, std::string(site) + ": destination " + hex(dst) + " is not " + std::to_string(cp_size) + "-byte aligned");
  if (reinterpret_cast<uintptr_t>(src) % static_cast<uintptr_t>(cp_size) != 0) {
    fail(cudaErrorMisalignedAddress, std::string(site) + ": source " + hex(reinterpret_cast<uintptr_t>(src)) + " is not " + std::to_string(cp_size) + "-byte aligned");
  }
  CpAsyncCopy copy;
  copy.dst = dst;
  copy.bytes = static_cast<uint32_t>(cp_size);
  if (src_size > 0) global_read(src, copy.data, static_cast<size_t>(src_size), "cp.async");
  uint8_t poison[16];
  std::memset(poison, 0xFF, sizeof poison);
  uint32_t* clock = b.clock_of(t.tid);
  shared_write(t.tid, clock[t.tid], clock, dst, poison, copy.bytes, "cp.async writes");
  shared_mark_pending(dst, copy.bytes, true);
  t.cp_uncommitted.push_back(copy);
  note_progress();
}

void cp_async_commit(const char*) {
  Thread& t = *current_thread();
  t.cp_groups.push_back(std::move(t.cp_uncommitted));
  t.cp_uncommitted.clear();
}

void cp_async_wait(int pending, const char* site) {
  Block& b = *current_block();
  Thread& t = *current_thread();
  if (pending < 0) misuse(site, "negative group count");
  while (t.cp_groups.size() > static_cast<size_t>(pending)) {
    for (const CpAsyncCopy& c : t.cp_groups.front()) {
      shared_mark_pending(c.dst, c.bytes, false);
      uint32_t* clock = b.clock_of(t.tid);
      shared_write(t.tid, clock[t.tid], clock, c.dst, c.data, c.bytes, "cp.async lands in");
    }
    t.cp_groups.pop_front();
    note_progress();
  }
}

// ---- ldmatrix, mma.sync ----------------------------------------------------------------

void ldmatrix(int num, bool trans, uint32_t address, uint32_t* regs, const char* site) {
  if (num != 1 && num != 2 && num != 4) misuse(site, "ldmatrix .x" + std::to_string(num));
  const std::vector<uint32_t>& lanes = warp_lanes();
  LdmatrixLane lane{address, regs};
  LdmatrixContext ctx{num, trans, site, &lanes};
  collective(warp_collective(0xFFFFFFFFu, "ldmatrix", site), lanes, current_thread()->lane, 0xFFFFFFFFu,
             "ldmatrix", site, &lane, run_ldmatrix, &ctx);
}

void mma_m16n8k16(int format, float* d, const uint32_t* a, const uint32_t* b, const char* site) {
  const std::vector<uint32_t>& lanes = warp_lanes();
  MmaLane lane{d, a, b};
  MmaContext ctx{false, format_of(format), format_of(format)};
  collective(warp_collective(0xFFFFFFFFu, "mma.sync.m16n8k16", site), lanes, current_thread()->lane, 0xFFFFFFFFu,
             "mma.sync.m16n8k16", site, &lane, run_mma, &ctx);
}

void mma_m16n8k32(int format_a, int format_b, float* d, const uint32_t* a, const uint32_t* b, const char* site) {
  const std::vector<uint32_t>& lanes = warp_lanes();
  MmaLane lane{d, a, b};
  MmaContext ctx{true, format_of(format_a), format_of(format_b)};
  collective(warp_collective(0xFFFFFFFFu, "mma.sync.m16n8k32", site), lanes, current_thread()->lane, 0xFFFFFFFFu,
             "mma.sync.m16n8k32", site, &lane, run_mma, &ctx);
}

// ---- mbarrier --------------------------------------------------------------------------

void mbarrier_init(uint32_t bar, uint32_t count, const char* site) {
  Block& b = *current_block();
  Thread& t = *current_thread();
  MbarrierState& m = barrier_at(bar, site, false);
  if (m.barrier.initialised) misuse(site, "mbarrier at " + hex(bar) + " initialised twice");
  std::string why;
  check_ptx(ptx::mbarrier_init(m.barrier, count, &why), site, "mbarrier " + hex(bar) + ": " + why);
  m.release_clock.assign(b.clock_width, 0);
  m.completed_clock.assign(b.clock_width, 0);
  // The initialisation is a write the other threads must see (through a
  // barrier) before they use the mbarrier.
  const uint64_t state = 0;
  uint32_t* clock = b.clock_of(t.tid);
  shared_write(t.tid, clock[t.tid], clock, bar, &state, 8, "mbarrier.init writes");
  note_progress();
}

namespace {

void check_init_visible(uint32_t bar, const char* site) {
  Block& b = *current_block();
  Thread& t = *current_thread();
  uint64_t ignored;
  uint32_t* clock = b.clock_of(t.tid);
  shared_read(t.tid, clock[t.tid], clock, bar, &ignored, 8, site);
}

void arrive(uint32_t bar, bool expect, uint32_t bytes, const char* site) {
  Block& b = *current_block();
  Thread& t = *current_thread();
  MbarrierState& m = barrier_at(bar, site, true);
  check_init_visible(bar, site);
  std::string why;
  if (expect) {
    // Bytes already landed (tx below zero) can make the expectation complete the phase.
    const uint32_t phase = m.barrier.phase;
    check_ptx(ptx::mbarrier_expect_tx(m.barrier, bytes, &why), site, "mbarrier " + hex(bar) + ": " + why);
    if (m.barrier.phase != phase) phase_completed(m);
  }
  // Release: what this thread has seen becomes what the phase's waiters see.
  clock_join(m.release_clock.data(), b.clock_of(t.tid), b.clock_width);
  clock_tick(t.tid);
  bool completed = false;
  check_ptx(ptx::mbarrier_arrive(m.barrier, 1, &completed, &why), site, "mbarrier " + hex(bar) + ": " + why);
  if (completed) phase_completed(m);
  note_progress();
}

}  // namespace

void mbarrier_arrive(uint32_t bar, const char* site) { arrive(bar, false, 0, site); }
void mbarrier_arrive_expect_tx(uint32_t bar, uint32_t bytes, const char* site) { arrive(bar, true, bytes, site); }

bool mbarrier_try_wait(uint32_t bar, uint32_t parity, const char* site) {
  Block& b = *current_block();
  Thread& t = *current_thread();
  MbarrierState& m = barrier_at(bar, site, true);
  check_init_visible(bar, site);
  land_tma(b, bar, m, site);
  if (ptx::mbarrier_test_parity(m.barrier, parity & 1)) {
    // Acquire what the completed phase released.
    if (m.barrier.phase > 0) clock_join(b.clock_of(t.tid), m.completed_clock.data(), b.clock_width);
    return true;
  }
  t.wait_what = "mbarrier.try_wait.parity";
  t.wait_site = site;
  t.wait_arg0 = bar;
  t.wait_arg1 = parity;
  yield_spinning();
  return false;
}

// ---- TMA -------------------------------------------------------------------------------

namespace {

const ptx::TensorMap& tensor_map_at(const void* p, const char* site) {
  if (reinterpret_cast<uintptr_t>(p) % 64 != 0) misuse(site, "tensor map at " + hex(reinterpret_cast<uintptr_t>(p)) + " is not 64-byte aligned");
  const auto& map = *static_cast<const ptx::TensorMap*>(p);
  if (map.magic != ptx::TENSOR_MAP_MAGIC) misuse(site, "the tensor map was not made by cuTensorMapEncodeTiled");
  return map;
}

class CheckedGlobal : public ptx::GlobalMemory {
 public:
  bool read(uint64_t address, void* dst, size_t bytes) override {
    global_read(reinterpret_cast<const void*>(address), dst, bytes, "a TMA load");
    return true;
  }
};

}  // namespace

void tma_prefetch(const void* tensor_map, const char* site) { (void)tensor_map_at(tensor_map, site); }

void tma_load(uint32_t dst, const void* tensor_map, uint32_t bar, int rank, const int32_t* coords, const char* site) {
  Block& b = *current_block();
  Thread& t = *current_thread();
  const ptx::TensorMap& map = tensor_map_at(tensor_map, site);
  if (static_cast<uint32_t>(rank) != map.rank) misuse(site, "a " + std::to_string(rank) + "-d load from a rank-" + std::to_string(map.rank) + " tensor map");
  MbarrierState& m = barrier_at(bar, site, true);
  PendingTma copy;
  copy.dst = dst;
  copy.box.assign(ptx::tensor_map_box_bytes(map), 0);
  CheckedGlobal gmem;
  std::string why;
  check_ptx(ptx::tma_load_tile(map, coords, dst, gmem, copy.box.data(), &why), site, why);
  std::vector<uint8_t> poison(copy.box.size(), 0xFF);
  uint32_t* clock = b.clock_of(t.tid);
  shared_write(t.tid, clock[t.tid], clock, dst, poison.data(), poison.size(), "a TMA load writes");
  shared_mark_pending(dst, copy.box.size(), true);
  copy.issuer = t.tid;
  copy.issuer_clock.assign(clock, clock + b.clock_width);
  m.pending.push_back(std::move(copy));
  // A copy in flight can complete a phase a spinning thread waits for.
  note_progress();
}

// ---- wgmma ------------------------------------------------------------------------------

void wgmma_fence(const char*) {}

void wgmma_e4m3(int n, float* d, uint64_t desc_a, uint64_t desc_b, bool scale_d, const char* site) {
  const std::vector<uint32_t>& members = warpgroup_threads(site);
  const uint32_t wg = current_thread()->tid / 128;
  WgmmaLane lane{WgmmaKind::E4M3, n, d, desc_a, desc_b, scale_d, 0, 0};
  WgmmaContext ctx{wg, site};
  collective(current_block()->warpgroup_collectives[wg], members, current_thread()->tid % 128, 0, "wgmma.mma_async", site,
             &lane, run_wgmma_issue, &ctx);
}

void wgmma_bf16(int n, float* d, uint64_t desc_a, uint64_t desc_b, bool scale_d, int trans_a, int trans_b, const char* site) {
  const std::vector<uint32_t>& members = warpgroup_threads(site);
  const uint32_t wg = current_thread()->tid / 128;
  WgmmaLane lane{WgmmaKind::BF16, n, d, desc_a, desc_b, scale_d, trans_a, trans_b};
  WgmmaContext ctx{wg, site};
  collective(current_block()->warpgroup_collectives[wg], members, current_thread()->tid % 128, 0, "wgmma.mma_async", site,
             &lane, run_wgmma_issue, &ctx);
}

void wgmma_commit(const char* site) {
  const std::vector<uint32_t>& members = warpgroup_threads(site);
  const uint32_t wg = current_thread()->tid / 128;
  WgmmaContext ctx{wg, site};
  collective(current_block()->warpgroup_collectives[wg], members, current_thread()->tid % 128, 0, "wgmma.commit_group",
             site, nullptr, run_wgmma_commit, &ctx);
}

void wgmma_wait(int pending, const char* site) {
  const std::vector<uint32_t>& members = warpgroup_threads(site);
  const uint32_t wg = current_thread()->tid / 128;
  WaitContext ctx{wg, pending, site, &members};
  collective(current_block()->warpgroup_collectives[wg], members, current_thread()->tid % 128, 0, "wgmma.wait_group", site,
             nullptr, run_wgmma_wait, &ctx);
}

void setmaxnreg(bool increase, uint32_t registers, const char* site) {
  if (registers < 24 || registers > 256 || registers % 8 != 0) {
    misuse(site, "register count " + std::to_string(registers) + " (a multiple of 8 in [24, 256])");
  }
  (void)increase;
  const std::vector<uint32_t>& members = warpgroup_threads(site);
  const uint32_t wg = current_thread()->tid / 128;
  collective(current_block()->warpgroup_collectives[wg], members, current_thread()->tid % 128, 0,
             increase ? "setmaxnreg.inc" : "setmaxnreg.dec", site, nullptr, run_nothing, nullptr);
}

}  // namespace device
}  // namespace emu
}  // namespace moekit
