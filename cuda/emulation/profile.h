// The emulated GPU's architecture profile: the properties the CUDA runtime
// reports for it and the limits a launch is checked against. One profile per
// emulation build (the kernels are compiled for its __CUDA_ARCH__), chosen
// by CMake's MOEKIT_EMULATION=sm80|sm89|sm90a.
#pragma once

#include <cstddef>
#include <cstdint>

namespace moekit {
namespace emu {

struct Profile {
  const char* name;         // "sm80", "sm89", "sm90a"
  const char* device_name;  // cudaDeviceProp::name, e.g. "NVIDIA A100-SXM4-80GB (emulated)"
  int major, minor;         // compute capability
  int arch;                 // __CUDA_ARCH__ the kernels were compiled for: 800, 890, 900
  int sm_count;
  int max_threads_per_block;            // 1024
  int max_threads_per_sm;
  int max_blocks_per_sm;
  int regs_per_block, regs_per_sm;
  size_t smem_per_block;                // without opt-in: 48 KiB
  size_t smem_per_block_optin;          // the most a kernel may ask for with cudaFuncAttributeMaxDynamicSharedMemorySize
  size_t smem_per_sm;
  size_t reserved_smem_per_block;       // the driver's per-block reservation (1 KiB on sm_80 and newer)
  size_t global_memory;                 // bytes
  size_t l2_bytes;
  int clock_khz, memory_clock_khz, memory_bus_width;
  int warp_size;                        // 32
};

// The profile this build emulates.
const Profile& active_profile();

}  // namespace emu
}  // namespace moekit
