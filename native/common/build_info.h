// Facts fixed when the addon was built. build_info.cc is the one source
// compiled separately for each addon target (the emulation build links the
// same native objects into one addon per GPU profile), so these are
// functions rather than macros seen by every file.
#pragma once

namespace moekit {

// CMAKE_CUDA_ARCHITECTURES as a comma list ("80-real,89-real,90a-real,90-virtual"); "" without CUDA.
const char* cuda_architectures_built();
// nvcc's version ("13.0.48"), or "emulated" / "" without CUDA.
const char* cuda_compiler_version_built();
// The emulated GPU profile ("sm80", "sm89", "sm90a"), or "" for a real CUDA or CPU-only build.
const char* emulated_profile_built();

}  // namespace moekit
