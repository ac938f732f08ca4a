// launch_kernel: every kernel launch goes through it. It opts the kernel in
// to more than 48 KiB of dynamic shared memory when the launch asks for it,
// checks the launch at once (a bad configuration throws with the kernel's
// name, not at the next synchronisation) and, in the emulation build, hands
// the grid to the
// emulated GPU instead (cuda/emulation/runtime/launch.h), which enforces the
// profile's limits on threads and shared memory per block.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "check.h"

#if defined(MOEKIT_EMULATION)
#include "../emulation/runtime/launch.h"
#endif

namespace moekit {

// Runs kernel(args...) over `grid` blocks of `block` threads with `smem`
// bytes of dynamic shared memory, on `stream`. The arguments are converted
// to the kernel's parameter types and copied, as a launch copies them.
template <typename... Params, typename... Args>
void launch_kernel(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "one argument per kernel parameter");
  const std::string call = std::string("launch of ") + name;
  // Above this a kernel must opt in (cudaFuncAttributeMaxDynamicSharedMemorySize).
  constexpr size_t DEFAULT_DYNAMIC_SMEM_LIMIT = 48 * 1024;
  if (smem > DEFAULT_DYNAMIC_SMEM_LIMIT) {
    cuda_check(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)),
               ("opting " + std::string(name) + " in to " + std::to_string(smem) + " bytes of dynamic shared memory").c_str(),
               __FILE__, __LINE__);
  }
#if defined(MOEKIT_EMULATION)
  emu::GridLaunch launch;
  launch.kernel = name;
  launch.grid = {grid.x, grid.y, grid.z};
  launch.block = {block.x, block.y, block.z};
  launch.dynamic_smem = smem;
  auto params = std::make_tuple(static_cast<std::decay_t<Params>>(std::forward<Args>(args))...);
  launch.body = [kernel, params]() { std::apply(kernel, params); };
  cuda_check(emu::launch_grid(reinterpret_cast<const void*>(kernel), std::move(launch), stream), call.c_str(), __FILE__,
             __LINE__);
#else
  kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
  cuda_check(cudaGetLastError(), call.c_str(), __FILE__, __LINE__);
#endif
}

}  // namespace moekit
