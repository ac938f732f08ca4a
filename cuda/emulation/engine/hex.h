// Addresses, masks and offsets in the emulation's reports: "0x1a2b".
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace moekit {
namespace emu {

inline std::string hex(uint64_t v) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(v));
  return text;
}

inline std::string hex(const void* p) { return hex(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p))); }

}  // namespace emu
}  // namespace moekit
