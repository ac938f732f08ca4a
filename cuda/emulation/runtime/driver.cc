// The driver functions the addon reaches through
// cudaGetDriverEntryPointByVersion: cuCtxGetCurrent and cuCtxSetCurrent
// (over the runtime's per-thread current device; one context object per
// device stands for its primary context) and cuTensorMapEncodeTiled (the
// emulation's tensor-map encoding, cuda/emulation/ptx/ptx.h, in the
// CUtensorMap's opaque bytes). cuDriverGetVersion comes along.
//
// A thread that never selected a device has no current context:
// cuCtxGetCurrent gives null there, and cuCtxSetCurrent(NULL) makes a thread
// forget its device again (later calls needing one count as implicit uses).
#include <cuda.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "../ptx/ptx.h"
#include "runtime.h"

struct CUctx_st {
  int device;
};

namespace moekit {
namespace emu {
namespace rt {

namespace driver_detail {

CUctx_st contexts[MAX_DEVICES] = {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}};

CUresult CUDAAPI ctx_get_current(CUcontext* pctx) {
  if (unloading()) return CUDA_ERROR_DEINITIALIZED;
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  const int d = selected_device();
  *pctx = d >= 0 ? &contexts[d] : nullptr;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI ctx_set_current(CUcontext ctx) {
  if (unloading()) return CUDA_ERROR_DEINITIALIZED;
  if (ctx == nullptr) {
    select_device(-1);
    return CUDA_SUCCESS;
  }
  if (ctx < &contexts[0] || ctx >= &contexts[MAX_DEVICES] || !valid_device(ctx->device)) return CUDA_ERROR_INVALID_CONTEXT;
  select_device(ctx->device);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI driver_get_version(int* version) {
  if (!version) return CUDA_ERROR_INVALID_VALUE;
  *version = 13000;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI tensor_map_encode_tiled(CUtensorMap* tensorMap, CUtensorMapDataType tensorDataType, cuuint32_t tensorRank,
                                         void* globalAddress, const cuuint64_t* globalDim, const cuuint64_t* globalStrides,
                                         const cuuint32_t* boxDim, const cuuint32_t* elementStrides, CUtensorMapInterleave interleave,
                                         CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2Promotion,
                                         CUtensorMapFloatOOBfill oobFill) {
  if (unloading()) return CUDA_ERROR_DEINITIALIZED;
  if (!tensorMap) return CUDA_ERROR_INVALID_VALUE;
  ptx::TensorMap map{};
  std::string why;
  if (!ptx::encode_tensor_map_tiled(&map, static_cast<int>(tensorDataType), tensorRank, globalAddress, globalDim, globalStrides,
                                    boxDim, elementStrides, static_cast<int>(interleave), static_cast<int>(swizzle),
                                    static_cast<int>(l2Promotion), static_cast<int>(oobFill), &why)) {
    // The driver says only CUDA_ERROR_INVALID_VALUE; the reason helps.
    if (why.find("cuTensorMapEncodeTiled") == std::string::npos) why = "cuTensorMapEncodeTiled: " + why;
    std::fprintf(stderr, "moekit emulation: %s\n", why.c_str());
    std::fflush(stderr);
    return CUDA_ERROR_INVALID_VALUE;
  }
  static_assert(sizeof(ptx::TensorMap) <= sizeof(CUtensorMap), "the encoding fits a CUtensorMap");
  std::memset(static_cast<void*>(tensorMap), 0, sizeof(CUtensorMap));
  std::memcpy(static_cast<void*>(tensorMap), &map, sizeof map);
  return CUDA_SUCCESS;
}

struct EntryPoint {
  const char* name;
  unsigned introduced;  // CUDA version that introduced the (current ABI of the) symbol
  void* function;
};

template <typename Fn>
void* as_pointer(Fn* fn) {
  return reinterpret_cast<void*>(fn);
}

const EntryPoint ENTRY_POINTS[] = {
    {"cuCtxGetCurrent", 4000, as_pointer(ctx_get_current)},
    {"cuCtxSetCurrent", 4000, as_pointer(ctx_set_current)},
    {"cuDriverGetVersion", 2020, as_pointer(driver_get_version)},
    {"cuTensorMapEncodeTiled", 12000, as_pointer(tensor_map_encode_tiled)},
};

}  // namespace driver_detail

}  // namespace rt
}  // namespace emu
}  // namespace moekit

using namespace moekit::emu;

extern "C" cudaError_t cudaGetDriverEntryPointByVersion(const char* symbol, void** funcPtr, unsigned int cudaVersion,
                                                        unsigned long long flags, cudaDriverEntryPointQueryResult* driverStatus) {
  if (cudaError_t e = rt::enter()) return e;
  if (!symbol || !funcPtr) return rt::record(cudaErrorInvalidValue);
  if (flags != cudaEnableDefault && flags != cudaEnableLegacyStream && flags != cudaEnablePerThreadDefaultStream) {
    return rt::record(cudaErrorInvalidValue);
  }
  // A version newer than the driver's.
  if (cudaVersion > 13000) return rt::record(cudaErrorInvalidValue);
  *funcPtr = nullptr;
  cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
  for (const auto& entry : rt::driver_detail::ENTRY_POINTS) {
    if (std::strcmp(entry.name, symbol) != 0) continue;
    if (cudaVersion < entry.introduced) {
      status = cudaDriverEntryPointVersionNotSufficent;
    } else {
      *funcPtr = entry.function;
      status = cudaDriverEntryPointSuccess;
    }
    break;
  }
  if (driverStatus) *driverStatus = status;
  return cudaSuccess;
}
