// What the baselines' binding files (baselines.cc, mla.cc) share.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../../baselines/cublas_loader.h"
#include "../../baselines/cublaslt_loader.h"
#include "../../core/device.h"

namespace moekit {

// Why a baseline cannot run without a CUDA device to run on: `device_id`
// names the device asked about ('' when there is no CUDA device at all).
std::string no_gpu_blocker(const std::string& device_id);

// Why the MLA baselines (mlaDecode, mlaPrefill) cannot run on `gpu` ('' when
// they can): they need cuBLASLt, libcublas with cublasGemmStridedBatchedEx,
// and a CUDA device. `gpu` is null when the device asked about is not a
// CUDA device (then `device_id` names it, or is empty when there is none).
std::string mla_blocker(const CublasLtLibrary& lt, const CublasLibrary& cublas, const DeviceInfo* gpu, const std::string& device_id);

// An array of `length` integers in [0, 2^53] at argument `i` (a JS array, as lib/baselines.ts passes).
std::vector<int64_t> arg_int_array(const Napi::CallbackInfo& info, size_t i, const char* op, const std::string& name, size_t length,
                                   const std::string& length_text);

}  // namespace moekit
