// The command line every seeded host check takes: --quick (fewer random
// cases, as tests/native/host_checks.test.ts runs them) and --seed N, else
// the vitest run's MOEKIT_TEST_SEED (tests/helpers/rng.ts), else `fallback`.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>

struct CheckOptions {
  bool quick;
  uint64_t seed;
};

inline CheckOptions check_options(int argc, char** argv, uint64_t fallback) {
  const char* seed_text = std::getenv("MOEKIT_TEST_SEED");
  CheckOptions o{false, seed_text && *seed_text ? std::strtoull(seed_text, nullptr, 10) : fallback};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) o.quick = true;
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) o.seed = std::strtoull(argv[++i], nullptr, 10);
  }
  return o;
}
