// The mbarrier state machine (PTX ISA 9.7.13.15): a phase completes, in one
// step, when its pending arrival count and its transaction count are both
// zero; the phase then advances and the pending count is reloaded from the
// expected count. The transaction count may run negative (complete_tx before
// expect_tx) within +-(2^20 - 1).
//
// try_wait.parity / test_wait.parity can only ask about the current phase
// (not complete) or the one just before it (complete), so "has the phase
// with parity p completed" is p != (phase & 1): right after init parity 1
// reads as complete, which producers rely on for their first wait.
//
// Re-initialising a live barrier without mbarrier.inval is undefined; the
// engine models inval by clearing `initialised`.
#include "ptx.h"

namespace moekit {
namespace emu {
namespace ptx {

namespace {

constexpr int64_t COUNT_LIMIT = (1 << 20) - 1;  // arrival counts and |tx|

bool fail(std::string* why, const std::string& text) {
  if (why) *why = "mbarrier: " + text;
  return false;
}

bool live(const Mbarrier& b, const char* op, std::string* why) {
  return b.initialised || fail(why, std::string(op) + " on a barrier that was never initialised");
}

bool complete_if_done(Mbarrier& b) {
  if (b.pending != 0 || b.tx != 0) return false;
  ++b.phase;
  b.pending = b.expected;
  return true;
}

}  // namespace

bool mbarrier_init(Mbarrier& b, uint32_t count, std::string* why) {
  if (b.initialised) return fail(why, "init of a barrier already initialised (no mbarrier.inval before it)");
  if (count < 1 || count > COUNT_LIMIT)
    return fail(why, "init count " + std::to_string(count) + " is outside 1..2^20-1");
  b.initialised = true;
  b.phase = 0;
  b.expected = static_cast<int32_t>(count);
  b.pending = b.expected;
  b.tx = 0;
  return true;
}

bool mbarrier_arrive(Mbarrier& b, uint32_t count, bool* completed, std::string* why) {
  if (completed) *completed = false;
  if (!live(b, "arrive", why)) return false;
  if (count < 1 || count > COUNT_LIMIT)
    return fail(why, "arrive count " + std::to_string(count) + " is outside 1..2^20-1");
  // Arrivals beyond the pending count would belong to a phase that has not
  // started: the pending count never goes below zero.
  if (static_cast<int64_t>(count) > b.pending)
    return fail(why, "arrive of " + std::to_string(count) + " with only " + std::to_string(b.pending) +
                         " arrivals pending in phase " + std::to_string(b.phase));
  b.pending -= static_cast<int32_t>(count);
  const bool done = complete_if_done(b);
  if (completed) *completed = done;
  return true;
}

// A phase whose arrivals are all in can complete here too, when this brings
// a negative tx count back to zero; the caller sees it as `phase` advancing.
bool mbarrier_expect_tx(Mbarrier& b, uint32_t bytes, std::string* why) {
  if (!live(b, "expect_tx", why)) return false;
  const int64_t tx = b.tx + static_cast<int64_t>(bytes);
  if (bytes > COUNT_LIMIT || tx > COUNT_LIMIT)
    return fail(why, "expect_tx of " + std::to_string(bytes) + " bytes takes the tx count from " +
                         std::to_string(b.tx) + " past 2^20-1");
  b.tx = tx;
  complete_if_done(b);
  return true;
}

bool mbarrier_complete_tx(Mbarrier& b, uint32_t bytes, bool* completed, std::string* why) {
  if (completed) *completed = false;
  if (!live(b, "complete_tx", why)) return false;
  const int64_t tx = b.tx - static_cast<int64_t>(bytes);
  if (bytes > COUNT_LIMIT || tx < -COUNT_LIMIT)
    return fail(why, "complete_tx of " + std::to_string(bytes) + " bytes takes the tx count from " +
                         std::to_string(b.tx) + " past -(2^20-1)");
  b.tx = tx;
  const bool done = complete_if_done(b);
  if (completed) *completed = done;
  return true;
}

// An uninitialised barrier completes nothing: a wait on it never returns
// true (the engine reports the misuse or the deadlock).
bool mbarrier_test_parity(const Mbarrier& b, uint32_t parity) {
  return b.initialised && (parity & 1u) != (b.phase & 1u);
}

}  // namespace ptx
}  // namespace emu
}  // namespace moekit
