#include "host_memory.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "../common/error.h"

namespace moekit {

namespace {

// A number from the first line of `path`; 0 when missing or "max".
uint64_t read_number_file(const char* path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(word.c_str(), &end, 10);
  return end && *end == '\0' ? v : 0;
}

// "MemAvailable:   24034400 kB" -> bytes.
uint64_t meminfo_field(const std::string& name) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::istringstream fields(line.substr(name.size() + 1));
      uint64_t kb = 0;
      fields >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

// Limits that are "no limit" in disguise (v1 reports about 2^63).
uint64_t real_limit(uint64_t v) { return v >= (uint64_t{1} << 60) ? 0 : v; }

}  // namespace

uint64_t parse_byte_size(const char* text, const char* name) {
  if (text == nullptr || *text == '\0') return 0;
  const std::string s(text);
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  uint64_t shift = 0;
  const std::string suffix = s.substr(digits);
  if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (suffix == "T" || suffix == "t") shift = 40;
  else if (!suffix.empty()) digits = 0;
  const uint64_t value = digits > 0 && digits <= 15 ? std::strtoull(s.substr(0, digits).c_str(), nullptr, 10) : 0;
  if (value == 0 || value > (~uint64_t{0} >> shift)) {
    throw Error(ErrorCode::InvalidArgument,
                std::string(name) + " must be a positive number of bytes, optionally with a K, M, G or T suffix (e.g. 8G), got '" + s + "'");
  }
  return value << shift;
}

HostMemory read_host_memory() {
  HostMemory m;
  const uint64_t physical = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  m.limit = physical;
  m.limit_source = "physical memory";
  m.available = meminfo_field("MemAvailable");
  if (m.available == 0) m.available = physical;
  // cgroup v2, then v1.
  uint64_t cg_limit = real_limit(read_number_file("/sys/fs/cgroup/memory.max"));
  uint64_t cg_usage = cg_limit ? read_number_file("/sys/fs/cgroup/memory.current") : 0;
  if (!cg_limit) {
    cg_limit = real_limit(read_number_file("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
    cg_usage = cg_limit ? read_number_file("/sys/fs/cgroup/memory/memory.usage_in_bytes") : 0;
  }
  if (cg_limit && cg_limit < m.limit) {
    m.limit = cg_limit;
    m.limit_source = "cgroup";
  }
  if (cg_limit) m.available = std::min(m.available, cg_limit > cg_usage ? cg_limit - cg_usage : 0);
  const uint64_t env = parse_byte_size(std::getenv("MOEKIT_HOST_MEMORY_LIMIT"), "MOEKIT_HOST_MEMORY_LIMIT");
  if (env && env < m.limit) {
    m.limit = env;
    m.limit_source = "MOEKIT_HOST_MEMORY_LIMIT";
  }
  return m;
}

}  // namespace moekit
