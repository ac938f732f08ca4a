// The three GPU profiles the emulation builds, with the properties the real
// parts report (cudaGetDeviceProperties on an A100-SXM4-80GB, an L40 and an
// H100 SXM5). One is compiled in, chosen by MOEKIT_EMU_PROFILE_<name>
// (cuda/emulation/emulation.cmake). The runtime reports these; the launch
// checks use the limits.
#include "profile.h"

namespace moekit {
namespace emu {

namespace {

constexpr size_t KiB = size_t{1} << 10;
constexpr size_t MiB = size_t{1} << 20;
constexpr size_t GiB = size_t{1} << 30;

#if defined(MOEKIT_EMU_PROFILE_sm80)
// A100-SXM4-80GB: 108 SMs, 164 KiB of shared memory per SM of which a block
// may opt in to 163 KiB (the driver keeps 1 KiB per block), 40 MiB of L2,
// HBM2e on a 5120-bit bus.
constexpr Profile PROFILE = {
    "sm80", "NVIDIA A100-SXM4-80GB (emulated)", 8, 0, 800,
    /*sm_count=*/108,
    /*max_threads_per_block=*/1024, /*max_threads_per_sm=*/2048, /*max_blocks_per_sm=*/32,
    /*regs_per_block=*/65536, /*regs_per_sm=*/65536,
    /*smem_per_block=*/48 * KiB, /*smem_per_block_optin=*/163 * KiB, /*smem_per_sm=*/164 * KiB,
    /*reserved_smem_per_block=*/1 * KiB,
    /*global_memory=*/80 * GiB, /*l2_bytes=*/40 * MiB,
    /*clock_khz=*/1410000, /*memory_clock_khz=*/1593000, /*memory_bus_width=*/5120,
    /*warp_size=*/32,
};
#elif defined(MOEKIT_EMU_PROFILE_sm89)
// L40 (Ada): 142 SMs, 100 KiB of shared memory per SM, 99 KiB per block by
// opt-in, 1536 resident threads per SM, 96 MiB of L2, GDDR6 on a 384-bit bus.
constexpr Profile PROFILE = {
    "sm89", "NVIDIA L40 (emulated)", 8, 9, 890,
    /*sm_count=*/142,
    /*max_threads_per_block=*/1024, /*max_threads_per_sm=*/1536, /*max_blocks_per_sm=*/24,
    /*regs_per_block=*/65536, /*regs_per_sm=*/65536,
    /*smem_per_block=*/48 * KiB, /*smem_per_block_optin=*/99 * KiB, /*smem_per_sm=*/100 * KiB,
    /*reserved_smem_per_block=*/1 * KiB,
    /*global_memory=*/48 * GiB, /*l2_bytes=*/96 * MiB,
    /*clock_khz=*/2490000, /*memory_clock_khz=*/9001000, /*memory_bus_width=*/384,
    /*warp_size=*/32,
};
#elif defined(MOEKIT_EMU_PROFILE_sm90a)
// H100 SXM5 80GB (Hopper, with the sm_90a features): 132 SMs, 228 KiB of
// shared memory per SM, 227 KiB per block by opt-in, 50 MiB of L2, HBM3 on a
// 5120-bit bus.
constexpr Profile PROFILE = {
    "sm90a", "NVIDIA H100 80GB HBM3 (emulated)", 9, 0, 900,
    /*sm_count=*/132,
    /*max_threads_per_block=*/1024, /*max_threads_per_sm=*/2048, /*max_blocks_per_sm=*/32,
    /*regs_per_block=*/65536, /*regs_per_sm=*/65536,
    /*smem_per_block=*/48 * KiB, /*smem_per_block_optin=*/227 * KiB, /*smem_per_sm=*/228 * KiB,
    /*reserved_smem_per_block=*/1 * KiB,
    /*global_memory=*/80 * GiB, /*l2_bytes=*/50 * MiB,
    /*clock_khz=*/1980000, /*memory_clock_khz=*/2619000, /*memory_bus_width=*/5120,
    /*warp_size=*/32,
};
#else
#error "define one of MOEKIT_EMU_PROFILE_sm80, MOEKIT_EMU_PROFILE_sm89, MOEKIT_EMU_PROFILE_sm90a"
#endif

static_assert(PROFILE.smem_per_block_optin + PROFILE.reserved_smem_per_block == PROFILE.smem_per_sm,
              "a block that opts in to the maximum fills the SM with the driver's reservation");

}  // namespace

const Profile& active_profile() { return PROFILE; }

}  // namespace emu
}  // namespace moekit
