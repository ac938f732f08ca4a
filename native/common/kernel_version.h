// Kernel versions and how `auto` picks one (docs/architecture.md, "Kernel versions").
//
// Each op lists its CUDA versions, v1 (the simple portable kernel) first.
// A version records the GPU architectures on which it has passed the CUDA
// test suite (`verified_on`, e.g. "sm_90"), updated only from a real run.
// `auto` takes the highest *verified* version that supports the call, else
// v1; any version can be forced by name (impl: 'v3') for tests and benchmarks.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "error.h"
#include "stream.h"

namespace moekit {

template <typename Params>
struct KernelVersion {
  const char* name;         // "v1", "v2", ...
  const char* idea;         // one line: what makes this version what it is
  int min_sm;               // e.g. 80 for sm_80
  int max_sm;               // inclusive; 0 = no upper bound (sm_90a code runs on 9.0 only)
  // Architecture-specific code it needs in the binary ("90a"), or "": a
  // build without it would run a trap stub, so it is then unsupported.
  const char* needs_code;
  const char* verified_on;  // comma-separated "sm_NN" where the CUDA tests passed on a GPU; "" = never run on a GPU
  // Comma-separated emulation profiles ("sm80,sm89,sm90a") on which the CUDA
  // tests passed on the emulated GPU (npm run emulate). Says the code ran and
  // its checks held; it never makes a version eligible for `auto`.
  const char* emulated_on;
  // Why this version cannot run `p` (shape constraints, dtypes); nullptr when it can.
  const char* (*unsupported)(const Params& p);
  void (*launch)(const Params& p, cudaStream_t stream);
};

// For versions that take every call.
template <typename Params>
const char* always_supported(const Params&) {
  return nullptr;
}

inline bool verified_for(const char* verified_on, int sm) {
  const std::string want = "sm_" + std::to_string(sm);
  std::string list = verified_on;
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = list.find(',', pos);
    const std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item == want) return true;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return false;
}

template <typename Params>
bool fits_arch(const KernelVersion<Params>& v, int sm) {
  return sm >= v.min_sm && (v.max_sm == 0 || sm <= v.max_sm);
}

// The version to run: `requested` by name, or for "auto" the highest
// verified version that fits, else v1 (the first entry). Throws Error with
// the reason when a named version cannot run this call. `absent(code)` says
// why the build lacks a version's architecture-specific code ("" if not).
template <typename Params, typename Absent>
const KernelVersion<Params>& pick_version(const std::vector<KernelVersion<Params>>& versions, const std::string& requested,
                                          int sm, const Params& p, const char* op, Absent absent) {
  if (requested == "auto") {
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (fits_arch(*it, sm) && verified_for(it->verified_on, sm) && absent(it->needs_code).empty() && it->unsupported(p) == nullptr) {
        return *it;
      }
    }
    const auto& first = versions.front();
    if (const char* why = first.unsupported(p)) throw_unsupported(std::string(op) + ": " + why);
    return first;
  }
  for (const auto& v : versions) {
    if (requested != v.name) continue;
    if (!fits_arch(v, sm)) {
      throw_unsupported(std::string(op) + ": impl '" + v.name + "' needs compute capability " + std::to_string(v.min_sm / 10) + "." +
                        std::to_string(v.min_sm % 10) + (v.max_sm ? " exactly" : " or newer") + "; this GPU is sm_" + std::to_string(sm));
    }
    const std::string missing = absent(v.needs_code);
    if (!missing.empty()) throw_unsupported(std::string(op) + ": impl '" + v.name + "': " + missing);
    if (const char* why = v.unsupported(p)) throw_unsupported(std::string(op) + ": impl '" + v.name + "': " + why);
    return v;
  }
  std::string names = "'auto'";
  for (const auto& v : versions) names += std::string(", '") + v.name + "'";
  throw_range_error(op, "options.impl", "one of " + names, "'" + requested + "'");
}

}  // namespace moekit
