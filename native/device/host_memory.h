// How much host memory the CPU device may use. Linux overcommits, so a
// malloc far beyond what the machine has succeeds and the process meets the
// OOM killer later, when the pages are touched. Large CPU allocations are
// therefore checked against these numbers first.
#pragma once

#include <cstdint>
#include <string>

namespace moekit {

struct HostMemory {
  // The most the process may use: the smallest of physical memory, the
  // cgroup's limit (v2 memory.max, v1 memory.limit_in_bytes) and
  // MOEKIT_HOST_MEMORY_LIMIT.
  uint64_t limit = 0;
  // What can be had now: MemAvailable, or the cgroup's limit minus its usage
  // when that is smaller.
  uint64_t available = 0;
  // Where `limit` comes from: "physical memory", "cgroup", "MOEKIT_HOST_MEMORY_LIMIT".
  std::string limit_source;
};

// Reads /proc/meminfo and the cgroup files (a few microseconds). Throws
// moekit::Error naming MOEKIT_HOST_MEMORY_LIMIT when it is set and malformed.
HostMemory read_host_memory();

// A byte count from environment variable `name` (its value `text`): a
// whole number with an optional K, M, G or T suffix (powers of 1024).
// 0 when unset or empty; anything else throws moekit::Error naming `name`.
uint64_t parse_byte_size(const char* text, const char* name);

}  // namespace moekit
