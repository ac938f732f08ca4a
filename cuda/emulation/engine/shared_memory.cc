// Shared memory of the running block, and the racecheck over it.
//
// Every byte has a shadow: the last write and the last read, each as
// (thread, that thread's own clock at the time). An access by thread T
// conflicts with a recorded access by another thread U when T's vector
// clock has not yet seen U's clock value, i.e. no barrier, __syncwarp or
// mbarrier wait ordered them: write after write, read after write and write
// after read are all reported, with both threads named. Only the last read
// is kept, so a write is checked against the latest reader only (cheaper;
// it can miss a race with an earlier reader).
//
// Bytes that an asynchronous copy (cp.async, TMA) will write are "pending"
// until the copy lands at its wait: any access to them before that fails,
// and their contents are poison (0xFF) meanwhile.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "hex.h"
#include "block.h"

namespace moekit {
namespace emu {

namespace {


struct Region {
  uint8_t* host;
  ShadowByte* shadow;
  uint8_t* pending;
};

// The region holding shared [address, address + bytes), or null.
bool locate(Block& b, uint32_t address, size_t bytes, Region* r) {
  if (address >= DYNAMIC_BASE && address - DYNAMIC_BASE <= b.dynamic_bytes && bytes <= b.dynamic_bytes - (address - DYNAMIC_BASE)) {
    const size_t off = address - DYNAMIC_BASE;
    *r = {b.dynamic_host + off, b.dynamic_shadow + off, b.dynamic_pending + off};
    return true;
  }
  if (address >= STATIC_BASE && address - STATIC_BASE <= b.static_bytes && bytes <= b.static_bytes - (address - STATIC_BASE)) {
    const size_t off = address - STATIC_BASE;
    *r = {b.static_host + off, b.static_shadow + off, b.static_pending + off};
    return true;
  }
  return false;
}

std::string thread_name(const Block& b, uint32_t t) {
  if (t < b.threads.size()) {
    const Thread& th = b.threads[t];
    return "thread (" + std::to_string(th.idx.x) + "," + std::to_string(th.idx.y) + "," + std::to_string(th.idx.z) +
           ") (warp " + std::to_string(th.warp) + ", lane " + std::to_string(th.lane) + ")";
  }
  if (t == b.tma_proxy()) return "a TMA copy";
  return "the wgmma of warpgroup " + std::to_string(t - b.tma_proxy() - 1);
}

[[noreturn]] void out_of_bounds(Block& b, uint32_t address, size_t bytes, const char* what) {
  fail(cudaErrorIllegalAddress,
       std::string("out-of-bounds shared-memory access: ") + what + " of " + std::to_string(bytes) + " bytes at shared address " +
           hex(address) + "; the block has " + std::to_string(b.dynamic_bytes) + " bytes of dynamic shared memory at " +
           hex(DYNAMIC_BASE) + " and " + std::to_string(b.static_bytes) + " bytes of static shared memory" +
           code_location(b.access_pc));
}

[[noreturn]] void race(Block& b, const char* kind, uint32_t t, uint32_t other, uint32_t address, const char* what) {
  fail(cudaErrorLaunchFailure, std::string("shared-memory race (") + kind + "): " + thread_name(b, t) + " " + what +
                                   " shared address " + hex(address) + ", last " +
                                   (std::strcmp(kind, "write after read") == 0 ? "read" : "written") + " by " +
                                   thread_name(b, other) + " with no barrier or completed wait between them" +
                                   code_location(b.access_pc));
}

[[noreturn]] void in_flight(Block& b, uint32_t t, uint32_t address, const char* what) {
  fail(cudaErrorLaunchFailure, thread_name(b, t) + " " + what + " shared address " + hex(address) +
                                   " while an asynchronous copy (cp.async or TMA) into it is still in flight: a wait is missing" +
                                   code_location(b.access_pc));
}

void check_read(Block& b, uint32_t reader, uint32_t own, const uint32_t* clock, uint32_t address, const Region& r,
                size_t bytes, const char* what) {
  for (size_t i = 0; i < bytes; ++i) {
    if (r.pending[i]) in_flight(b, reader, address + static_cast<uint32_t>(i), what);
    ShadowByte& s = r.shadow[i];
    if (s.write_thread != NO_THREAD && s.write_thread != reader && s.write_clock > clock[s.write_thread]) {
      race(b, "read after write", reader, s.write_thread, address + static_cast<uint32_t>(i), what);
    }
    s.read_thread = reader;
    s.read_clock = own;
  }
}

void check_write(Block& b, uint32_t writer, uint32_t own, const uint32_t* clock, uint32_t address, const Region& r,
                 size_t bytes, const char* what) {
  for (size_t i = 0; i < bytes; ++i) {
    if (r.pending[i]) in_flight(b, writer, address + static_cast<uint32_t>(i), what);
    ShadowByte& s = r.shadow[i];
    if (s.write_thread != NO_THREAD && s.write_thread != writer && s.write_clock > clock[s.write_thread]) {
      race(b, "write after write", writer, s.write_thread, address + static_cast<uint32_t>(i), what);
    }
    if (s.read_thread != NO_THREAD && s.read_thread != writer && s.read_clock > clock[s.read_thread]) {
      race(b, "write after read", writer, s.read_thread, address + static_cast<uint32_t>(i), what);
    }
    s.write_thread = writer;
    s.write_clock = own;
    s.read_thread = NO_THREAD;
  }
}

}  // namespace

// The whole mapped window counts, not only the launch's bytes: an access
// past the end of dynamic shared memory lands in the window and must be
// reported, not pass unchecked. (Past the end of static shared memory lies
// other memory of the process, which is not recognisable as shared.)
bool shared_contains(const Block& b, const void* p) {
  const auto* q = static_cast<const uint8_t*>(p);
  const uint8_t* window = b.dynamic_host - DYNAMIC_BASE;
  return (q >= window && q < window + b.window_bytes) || (q >= b.static_host && q < b.static_host + b.static_bytes);
}

uint8_t* shared_host(uint32_t address, size_t bytes, const char* what) {
  Block& b = *current_block();
  b.access_pc = nullptr;  // an instruction's access, not a load or store in the code
  Region r;
  if (!locate(b, address, bytes, &r)) out_of_bounds(b, address, bytes, what);
  return r.host;
}

void shared_read(uint32_t reader, uint32_t reader_clock_value, const uint32_t* reader_clock, uint32_t address, void* dst,
                 size_t bytes, const char* what) {
  Block& b = *current_block();
  b.access_pc = nullptr;
  Region r;
  if (!locate(b, address, bytes, &r)) out_of_bounds(b, address, bytes, what);
  check_read(b, reader, reader_clock_value, reader_clock, address, r, bytes, what);
  std::memcpy(dst, r.host, bytes);
}

void shared_write(uint32_t writer, uint32_t writer_clock_value, const uint32_t* writer_clock, uint32_t address,
                  const void* src, size_t bytes, const char* what) {
  Block& b = *current_block();
  b.access_pc = nullptr;
  Region r;
  if (!locate(b, address, bytes, &r)) out_of_bounds(b, address, bytes, what);
  check_write(b, writer, writer_clock_value, writer_clock, address, r, bytes, what);
  std::memcpy(r.host, src, bytes);
}

void shared_mark_pending(uint32_t address, size_t bytes, bool pending) {
  Block& b = *current_block();
  b.access_pc = nullptr;  // an instruction's access, not a load or store in the code
  Region r;
  if (!locate(b, address, bytes, &r)) out_of_bounds(b, address, bytes, "asynchronous copy");
  std::memset(r.pending, pending ? 1 : 0, bytes);
  if (pending) std::memset(r.host, 0xFF, bytes);
}

void shared_atomic(const void* p, size_t bytes) {
  Block& b = *current_block();
  Thread& t = *current_thread();
  const uint32_t address = device::generic_to_shared(p);
  Region r;
  if (!locate(b, address, bytes, &r)) out_of_bounds(b, address, bytes, "an atomic");
  if (address % bytes != 0) {
    fail(cudaErrorMisalignedAddress, "misaligned shared-memory atomic of " + std::to_string(bytes) + " bytes at shared address " + hex(address));
  }
  for (size_t i = 0; i < bytes; ++i) {
    if (r.pending[i]) in_flight(b, t.tid, address + static_cast<uint32_t>(i), "an atomic on");
  }
}

void shared_access(const void* p, size_t bytes, bool write, bool aligned) {
  Block& b = *current_block();
  Thread& t = *current_thread();
  const uint32_t address = device::generic_to_shared(p);
  const char* what = write ? "writes" : "reads";
  Region r;
  if (!locate(b, address, bytes, &r)) out_of_bounds(b, address, bytes, write ? "a store" : "a load");
  if (aligned && bytes > 1 && address % bytes != 0 && (bytes == 2 || bytes == 4 || bytes == 8 || bytes == 16)) {
    fail(cudaErrorMisalignedAddress, "misaligned shared-memory " + std::string(write ? "store" : "load") + " of " +
                                         std::to_string(bytes) + " bytes at shared address " + hex(address) + code_location(b.access_pc));
  }
  uint32_t* clock = b.clock_of(t.tid);
  if (write) {
    check_write(b, t.tid, clock[t.tid], clock, address, r, bytes, what);
  } else {
    check_read(b, t.tid, clock[t.tid], clock, address, r, bytes, what);
  }
}

namespace device {

void* dynamic_shared_memory() { return current_block()->dynamic_host; }

uint32_t generic_to_shared(const void* p) {
  Block& b = *current_block();
  const auto* q = static_cast<const uint8_t*>(p);
  const uint8_t* window = b.dynamic_host - DYNAMIC_BASE;
  if (q >= window && q <= window + b.window_bytes) return static_cast<uint32_t>(q - window);
  if (q >= b.static_host && q <= b.static_host + b.static_bytes) return STATIC_BASE + static_cast<uint32_t>(q - b.static_host);
  fail(cudaErrorIllegalAddress, "__cvta_generic_to_shared of " + hex(reinterpret_cast<uintptr_t>(p)) +
                                    ", which is not in the block's shared memory");
}

}  // namespace device
}  // namespace emu
}  // namespace moekit
