// Version tables. `verified_on` lists the architectures where a version has
// passed the CUDA tests on a real GPU; change it only after such a run
// (STYLE.md 16). A version never run on a GPU has "" and is reachable only
// by name (impl: 'vN'); `auto` falls back to v1.
#include "kernel_tables.h"

namespace moekit {

namespace {

template <typename P>
const char* always_supported(const P&) {
  return nullptr;
}

}  // namespace

#ifdef MOEKIT_WITH_CUDA

const std::vector<KernelVersion<GemmParams>>& gemm_versions() {
  static const std::vector<KernelVersion<GemmParams>> versions = {
      {"v1", "tiled SIMT FMA, any dtype", 80, 0, "", gemm_v1_unsupported, gemm_v1},
      {"v2", "mma.sync bf16/f16 tensor cores, ldmatrix from swizzled shared memory, 4-stage cp.async pipeline", 80, 0, "",
       gemm_v2_unsupported, gemm_v2},
  };
  return versions;
}

const std::vector<KernelVersion<Fp8GemmParams>>& fp8_gemm_versions() {
  static const std::vector<KernelVersion<Fp8GemmParams>> versions = {
      {"v1", "tiled SIMT, FP8 decoded in shared memory, promotion every 128", 80, 0, "", fp8_gemm_v1_unsupported, fp8_gemm_v1},
      {"v2", "mma.sync FP8 m16n8k32 (sm_89+; bf16 m16n8k16 on sm_80), 3-stage cp.async pipeline, promotion every 128", 80, 0, "",
       fp8_gemm_v2_unsupported, fp8_gemm_v2},
      {"v3", "sm_90a: TMA + wgmma, warp-specialized, persistent, promotion every 128", 90, 90, "", fp8_gemm_v3_unsupported, fp8_gemm_v3},
  };
  return versions;
}

const std::vector<KernelVersion<QuantizeParams>>& quantize_versions() {
  static const std::vector<KernelVersion<QuantizeParams>> versions = {
      {"v1", "warp per 1x128 block, block per 128x128 tile", 80, 0, "", always_supported<QuantizeParams>, quantize_v1},
      {"v2", "16-byte vector loads, tile held in registers", 80, 0, "", quantize_v2_unsupported, quantize_v2},
  };
  return versions;
}

#else

const std::vector<KernelVersion<GemmParams>>& gemm_versions() {
  static const std::vector<KernelVersion<GemmParams>> none;
  return none;
}

const std::vector<KernelVersion<Fp8GemmParams>>& fp8_gemm_versions() {
  static const std::vector<KernelVersion<Fp8GemmParams>> none;
  return none;
}

const std::vector<KernelVersion<QuantizeParams>>& quantize_versions() {
  static const std::vector<KernelVersion<QuantizeParams>> none;
  return none;
}

#endif

}  // namespace moekit
