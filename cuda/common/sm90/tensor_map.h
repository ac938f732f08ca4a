// Host side of TMA: the CUtensorMap that describes a K-major FP8 operand
// (rows of K bytes, row-major) and the box a kernel loads from it, built with
// the driver's cuTensorMapEncodeTiled. The addon links the CUDA runtime
// statically and never libcuda itself, so the driver function is looked up
// through cudaGetDriverEntryPointByVersion.
//
// The parameters are computed by a plain function (kmajor_fp8_tile_map_spec)
// and checked against the rules cuda.h documents for cuTensorMapEncodeTiled
// (tensor_map_spec_problem), both on the host by
// tests/native/sm90/tensor_map_check.cc; encode_tensor_map only hands them on.
#pragma once

#include <cuda.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "../check.h"
#include "../../../native/common/error.h"

namespace moekit {
namespace sm90 {

// The arguments of cuTensorMapEncodeTiled for a rank-2 map, innermost first.
struct TensorMap2dSpec {
  CUtensorMapDataType data_type;
  uint32_t element_bytes;
  uint64_t global_dim[2];     // elements: {K, rows}
  uint64_t global_stride[1];  // bytes between consecutive rows
  uint32_t box_dim[2];        // elements per load: {box K, box rows}
  uint32_t element_strides[2];
  CUtensorMapInterleave interleave;
  CUtensorMapSwizzle swizzle;
  CUtensorMapL2promotion l2_promotion;
  CUtensorMapFloatOOBfill oob_fill;
};

// A [rows, k] row-major FP8 matrix read in boxes of box_rows x box_k with
// the 128-byte swizzle; out-of-bounds elements read as zero bytes (+0 in
// both FP8 formats), which is what ragged M, N and K need. 256-byte L2
// promotion: each box row is a 128-byte segment of a longer row.
inline TensorMap2dSpec kmajor_fp8_tile_map_spec(int64_t rows, int64_t k, uint32_t box_rows, uint32_t box_k) {
  TensorMap2dSpec s{};
  s.data_type = CU_TENSOR_MAP_DATA_TYPE_UINT8;
  s.element_bytes = 1;
  s.global_dim[0] = static_cast<uint64_t>(k);
  s.global_dim[1] = static_cast<uint64_t>(rows);
  s.global_stride[0] = static_cast<uint64_t>(k);
  s.box_dim[0] = box_k;
  s.box_dim[1] = box_rows;
  s.element_strides[0] = 1;
  s.element_strides[1] = 1;
  s.interleave = CU_TENSOR_MAP_INTERLEAVE_NONE;
  s.swizzle = CU_TENSOR_MAP_SWIZZLE_128B;
  s.l2_promotion = CU_TENSOR_MAP_L2_PROMOTION_L2_256B;
  s.oob_fill = CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE;
  return s;
}

inline uint32_t swizzle_span_bytes(CUtensorMapSwizzle s) {
  switch (s) {
    case CU_TENSOR_MAP_SWIZZLE_32B: return 32;
    case CU_TENSOR_MAP_SWIZZLE_64B: return 64;
    case CU_TENSOR_MAP_SWIZZLE_NONE: return 0;
    default: return 128;
  }
}

// Why cuTensorMapEncodeTiled would reject `s` for a global address `base`
// (its documented requirements for non-interleaved maps), or nullptr.
inline const char* tensor_map_spec_problem(const TensorMap2dSpec& s, uint64_t base) {
  if (base % 16 != 0) return "the global address must be 16-byte aligned";
  for (int i = 0; i < 2; ++i) {
    if (s.global_dim[i] == 0 || s.global_dim[i] > (uint64_t{1} << 32)) return "each global dimension must be in [1, 2^32]";
    if (s.box_dim[i] == 0 || s.box_dim[i] > 256) return "each box dimension must be in [1, 256]";
    if (s.element_strides[i] == 0 || s.element_strides[i] > 8) return "each element stride must be in [1, 8]";
  }
  if (s.global_stride[0] % 16 != 0) return "the row stride must be a multiple of 16 bytes";
  if (s.global_stride[0] >= (uint64_t{1} << 40)) return "the row stride must be below 2^40 bytes";
  if (s.global_stride[0] < s.global_dim[0] * s.element_bytes) return "the row stride must cover a row";
  if (s.box_dim[0] * s.element_bytes % 16 != 0) return "the box's inner extent must be a multiple of 16 bytes";
  const uint32_t span = swizzle_span_bytes(s.swizzle);
  if (span != 0 && s.box_dim[0] * s.element_bytes > span) return "the box's inner extent must fit the swizzle span";
  return nullptr;
}

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*,
                                   const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                   CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeTiled from the driver (the 12.0 ABI, unchanged since).
inline EncodeTiledFn encode_tiled_entry_point() {
  static const EncodeTiledFn fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    MOEKIT_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || p == nullptr) {
      throw Error(ErrorCode::Cuda, "cuTensorMapEncodeTiled is missing from the NVIDIA driver (TMA needs driver 525 or newer)");
    }
    return reinterpret_cast<EncodeTiledFn>(p);
  }();
  return fn;
}

// The map for `s` over the matrix at device address `base`. Throws Error.
inline CUtensorMap encode_tensor_map(const TensorMap2dSpec& s, const void* base) {
  if (const char* why = tensor_map_spec_problem(s, reinterpret_cast<uint64_t>(base))) {
    throw Error(ErrorCode::Kernel, std::string("tensor map: ") + why);
  }
  CUtensorMap map;
  const CUresult r = encode_tiled_entry_point()(&map, s.data_type, 2, const_cast<void*>(base), s.global_dim, s.global_stride,
                                                s.box_dim, s.element_strides, s.interleave, s.swizzle, s.l2_promotion, s.oob_fill);
  if (r != CUDA_SUCCESS) {
    throw Error(ErrorCode::Cuda, "CUDA driver error " + std::to_string(static_cast<int>(r)) +
                                     " from cuTensorMapEncodeTiled (dims " + std::to_string(s.global_dim[0]) + " x " +
                                     std::to_string(s.global_dim[1]) + ", box " + std::to_string(s.box_dim[0]) + " x " +
                                     std::to_string(s.box_dim[1]) + ")");
  }
  return map;
}

}  // namespace sm90
}  // namespace moekit
