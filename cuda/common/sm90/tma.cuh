// TMA tile loads (PTX ISA, "cp.async.bulk.tensor"): one thread asks the copy
// engine to move a box described by a CUtensorMap (see tensor_map.h) from
// global into shared memory; completion is signalled on an mbarrier by
// complete_tx with the box's full byte count, out-of-bounds parts included
// (they are filled with zeros), so a stage's expected bytes do not depend on
// where the box sits. Device code for sm_90 and newer.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace moekit {
namespace sm90 {

// Warms the descriptor cache; `map` is the address of a __grid_constant__
// kernel parameter.
__device__ __forceinline__ void tma_prefetch_descriptor(const CUtensorMap* map) {
#if defined(MOEKIT_EMULATION)
  emu::device::tma_prefetch(map, "prefetch.tensormap");
#else
  asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
#endif
}

// Loads the 2-D box whose first element is at (inner, outer) = (c0, c1) in
// elements into shared memory at `smem_dst` (aligned as the map's swizzle
// needs: 1024 bytes for 128B), completing on the mbarrier at `bar`.
// .shared::cluster with a CTA's own shared address addresses that CTA
// (a launch without clusters is a cluster of one).
__device__ __forceinline__ void tma_load_2d(uint32_t smem_dst, const CUtensorMap* map, uint32_t bar, int32_t c0, int32_t c1) {
#if defined(MOEKIT_EMULATION)
  const int32_t coords[2] = {c0, c1};
  emu::device::tma_load(smem_dst, map, bar, 2, coords, "cp.async.bulk.tensor.2d");
#else
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];" ::"r"(smem_dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1)
      : "memory");
#endif
}

}  // namespace sm90
}  // namespace moekit
