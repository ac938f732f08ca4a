#include "build_info.h"

namespace moekit {

const char* cuda_architectures_built() {
#ifdef MOEKIT_CUDA_ARCHITECTURES
  return MOEKIT_CUDA_ARCHITECTURES;
#else
  return "";
#endif
}

const char* cuda_compiler_version_built() {
#ifdef MOEKIT_CUDA_COMPILER_VERSION
  return MOEKIT_CUDA_COMPILER_VERSION;
#else
  return "";
#endif
}

const char* emulated_profile_built() {
#ifdef MOEKIT_EMULATION_PROFILE
  return MOEKIT_EMULATION_PROFILE;
#else
  return "";
#endif
}

}  // namespace moekit
