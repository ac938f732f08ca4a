// Ops register themselves. Each op's file (native/ops/<family>/<op>.cc)
// adds its binding functions and its table of CUDA versions here, during
// static initialisation, with MOEKIT_REGISTER_BINDINGS and
// MOEKIT_REGISTER_VERSIONS. The addon's entry point installs every
// registered binding; kernelVersions() (and through it `moekit info` and the
// per-version test summary) lists every registered table. Nothing else in
// the project lists ops by hand.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "../common/kernel_version.h"

namespace moekit {

// Installs an op's functions on the addon's exports.
using BindingInstaller = void (*)(Napi::Env env, Napi::Object exports);

// One CUDA version as kernelVersions() reports it.
struct VersionRecord {
  std::string name;
  std::string idea;
  int min_sm = 0;
  int max_sm = 0;
  std::string verified_on;
  std::string emulated_on;
  // Empty when this build carries the version's code; else why not.
  std::string absent;
};

using VersionLister = std::vector<VersionRecord> (*)();

// Called by the macros below, from static initialisers.
bool register_bindings(const char* name, BindingInstaller install);
bool register_versions(const char* op, VersionLister list);

// Every registered installer, in registration order.
void install_bindings(Napi::Env env, Napi::Object exports);

// Every registered op with its versions (empty in a build without CUDA).
std::vector<std::pair<std::string, std::vector<VersionRecord>>> registered_versions();

// Why this build cannot run code that needs architecture `code` (e.g.
// "90a"), or "" when it can: the addon carries machine code or PTX for it.
std::string code_absent(const char* code);

template <typename Params>
std::vector<VersionRecord> version_records(const std::vector<KernelVersion<Params>>& versions) {
  std::vector<VersionRecord> out;
  for (const auto& v : versions) out.push_back({v.name, v.idea, v.min_sm, v.max_sm, v.verified_on, v.emulated_on, code_absent(v.needs_code)});
  return out;
}

}  // namespace moekit

#define MOEKIT_REGISTRY_CONCAT2(a, b) a##b
#define MOEKIT_REGISTRY_CONCAT(a, b) MOEKIT_REGISTRY_CONCAT2(a, b)

// MOEKIT_REGISTER_BINDINGS(install): `install` adds this file's functions to the exports.
#define MOEKIT_REGISTER_BINDINGS(install)                                        \
  namespace {                                                                    \
  [[maybe_unused]] const bool MOEKIT_REGISTRY_CONCAT(bindings_registered_, __LINE__) = \
      ::moekit::register_bindings(__FILE__, install);                            \
  }

// MOEKIT_REGISTER_VERSIONS("gemm", gemm_versions): the op's name in JS and
// the function returning its version table.
#define MOEKIT_REGISTER_VERSIONS(op, table)                                                     \
  namespace {                                                                                   \
  [[maybe_unused]] const bool MOEKIT_REGISTRY_CONCAT(versions_registered_, __LINE__) =          \
      ::moekit::register_versions(op, [] { return ::moekit::version_records(table()); });       \
  }
