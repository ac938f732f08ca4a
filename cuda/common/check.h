// MOEKIT_CUDA_CHECK: every CUDA runtime call goes through it. A failure
// throws moekit::Error with the CUDA error name, its message, the call and
// where it was made; allocation failures are reported as out-of-memory and
// cleared so the device stays usable; sticky faults as a lost device.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "../../native/common/error.h"

namespace moekit {

// Errors after which the CUDA context is unusable: every later call in the
// process returns them ("sticky" errors, CUDA Runtime API, cudaError_t).
inline bool cuda_error_is_sticky(cudaError_t err) {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchTimeout:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchFailure:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorContained:            // invalid peer access over NVLink: "inconsistent state"
    case cudaErrorTensorMemoryLeak:
    case cudaErrorMpsClientTerminated:  // "must be terminated and relaunched"
    case cudaErrorExternalDevice:
    case cudaErrorContextIsDestroyed:   // another library reset the device: unusable all the same
      return true;
    default:
      return false;
  }
}

inline void cuda_check(cudaError_t err, const char* call, const char* file, int line) {
  if (err == cudaSuccess) return;
  // Clear the error if it is not sticky, so the next call does not see it again.
  (void)cudaGetLastError();
  std::string message = std::string("CUDA error ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) +
                        " (" + call + " at " + file + ":" + std::to_string(line) + ")";
  const ErrorCode code = err == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory
                         : cuda_error_is_sticky(err)      ? ErrorCode::DeviceLost
                                                          : ErrorCode::Cuda;
  throw Error(code, message);
}

}  // namespace moekit

#define MOEKIT_CUDA_CHECK(call) ::moekit::cuda_check((call), #call, __FILE__, __LINE__)
