// The CUDA versions of each op, in order (v1 first), with the GPUs each has
// been verified on. Empty when the addon is built without CUDA.
#pragma once

#include <vector>

#include "../common/kernel_version.h"
#include "gemm/fp8_gemm.h"
#include "fp8/quantize.h"
#include "gemm/gemm.h"

namespace moekit {

const std::vector<KernelVersion<GemmParams>>& gemm_versions();
const std::vector<KernelVersion<Fp8GemmParams>>& fp8_gemm_versions();
const std::vector<KernelVersion<QuantizeParams>>& quantize_versions();

}  // namespace moekit
