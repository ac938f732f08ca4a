// Tiled tensor maps: cuTensorMapEncodeTiled's argument checks (Driver API
// "Tensor Map"; PTX ISA 5.5.3) and the tile load of
// cp.async.bulk.tensor (PTX ISA 5.5). The box lands in shared memory dense,
// dimension 0 fastest, then swizzled on the absolute shared address (5.5.7);
// elements outside the tensor in any dimension get the fill value, and the
// whole box counts as delivered bytes (complete-tx, 9.7.9.27.1.2), as
// CUTLASS's residue tiles expect.
#include <cstdio>
#include <cstring>
#include <vector>

#include "ptx.h"

namespace moekit {
namespace emu {
namespace ptx {

namespace {

// CUDA's enum values (cuda.h).
enum DataType {
  UINT8 = 0, UINT16 = 1, UINT32 = 2, INT32 = 3, UINT64 = 4, INT64 = 5, FLOAT16 = 6, FLOAT32 = 7,
  FLOAT64 = 8, BFLOAT16 = 9, FLOAT32_FTZ = 10, TFLOAT32 = 11, TFLOAT32_FTZ = 12,
};
constexpr int INTERLEAVE_NONE = 0;
constexpr int SWIZZLE_128B = 3;  // NONE = 0, 32B = 1, 64B = 2
constexpr int L2_PROMOTION_LAST = 3;  // NONE, 64B, 128B, 256B
constexpr int OOB_FILL_NONE = 0;
constexpr int OOB_FILL_NAN_REQUEST_ZERO_FMA = 1;

bool fail(std::string* why, const std::string& text) {
  if (why) *why = "cuTensorMapEncodeTiled: " + text;
  return false;
}

bool fail_load(std::string* why, const std::string& text) {
  if (why) *why = "cp.async.bulk.tensor: " + text;
  return false;
}

std::string hex(uint64_t x) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(x));
  return text;
}

// The fill of NAN_REQUEST_ZERO_FMA, little-endian. The ISA calls it
// "OOB-NaN" without giving its bits; all ones but the sign is a NaN in every
// float type a map can hold (f16 and bf16 alike), so it needs no type.
void nan_pattern(uint32_t element_bytes, uint8_t* out) {
  for (uint32_t i = 0; i < element_bytes; ++i) out[i] = i + 1 == element_bytes ? 0x7F : 0xFF;
}

}  // namespace

bool encode_tensor_map_tiled(TensorMap* out, int data_type, uint32_t rank, const void* global_address,
                             const uint64_t* global_dim, const uint64_t* global_strides,
                             const uint32_t* box_dim, const uint32_t* element_strides, int interleave, int swizzle,
                             int l2_promotion, int oob_fill, std::string* why) {
  uint32_t element_bytes;
  switch (data_type) {
    case UINT8: element_bytes = 1; break;
    case UINT16: case FLOAT16: case BFLOAT16: element_bytes = 2; break;
    case UINT32: case INT32: case FLOAT32: case FLOAT32_FTZ: case TFLOAT32: case TFLOAT32_FTZ: element_bytes = 4; break;
    case UINT64: case INT64: case FLOAT64: element_bytes = 8; break;
    default:
      return fail(why, "data type " + std::to_string(data_type) + " is not one the emulation supports (0..12)");
  }
  const bool is_float = data_type >= FLOAT16;
  if (rank < 1 || rank > 5) return fail(why, "tensorRank " + std::to_string(rank) + " is outside 1..5");
  if (interleave != INTERLEAVE_NONE)
    return fail(why, "interleave " + std::to_string(interleave) + " is not supported by the emulation (only NONE)");
  if (swizzle < 0 || swizzle > SWIZZLE_128B)
    return fail(why, "swizzle " + std::to_string(swizzle) + " is not supported by the emulation (NONE, 32B, 64B, 128B)");
  if (l2_promotion < 0 || l2_promotion > L2_PROMOTION_LAST)
    return fail(why, "l2Promotion " + std::to_string(l2_promotion) + " is not a valid value");
  if (oob_fill != OOB_FILL_NONE && oob_fill != OOB_FILL_NAN_REQUEST_ZERO_FMA)
    return fail(why, "oobFill " + std::to_string(oob_fill) + " is not a valid value");
  if (oob_fill == OOB_FILL_NAN_REQUEST_ZERO_FMA && !is_float)
    return fail(why, "oobFill NAN_REQUEST_ZERO_FMA needs a floating-point data type (got " +
                         std::to_string(data_type) + ")");
  const uint64_t address = reinterpret_cast<uintptr_t>(global_address);
  if (address % 16 != 0) return fail(why, "globalAddress " + hex(address) + " is not 16-byte aligned");
  for (uint32_t i = 0; i < rank; ++i) {
    if (global_dim[i] < 1 || global_dim[i] > (1ull << 32))
      return fail(why, "globalDim[" + std::to_string(i) + "] = " + std::to_string(global_dim[i]) +
                           " is outside 1..2^32");
  }
  for (uint32_t i = 0; i + 1 < rank; ++i) {
    if (global_strides[i] % 16 != 0)
      return fail(why, "globalStrides[" + std::to_string(i) + "] = " + std::to_string(global_strides[i]) +
                           " is not a multiple of 16");
    if (global_strides[i] >= (1ull << 40))
      return fail(why, "globalStrides[" + std::to_string(i) + "] = " + std::to_string(global_strides[i]) +
                           " is not below 2^40");
  }
  const uint32_t span = swizzle == 0 ? 0u : 16u << swizzle;  // 32B = 1, 64B = 2, 128B = 3
  for (uint32_t i = 0; i < rank; ++i) {
    if (box_dim[i] < 1 || box_dim[i] > 256)
      return fail(why, "boxDim[" + std::to_string(i) + "] = " + std::to_string(box_dim[i]) + " is outside 1..256");
    if (element_strides[i] < 1 || element_strides[i] > 8)
      return fail(why, "elementStrides[" + std::to_string(i) + "] = " + std::to_string(element_strides[i]) +
                           " is outside 1..8");
  }
  const uint64_t inner_bytes = static_cast<uint64_t>(box_dim[0]) * element_bytes;
  if (inner_bytes % 16 != 0)
    return fail(why, "boxDim[0] * element size = " + std::to_string(inner_bytes) + " bytes is not a multiple of 16");
  if (span != 0 && inner_bytes > span)
    return fail(why, "boxDim[0] * element size = " + std::to_string(inner_bytes) + " bytes exceeds the " +
                         std::to_string(span) + "-byte swizzle span");

  TensorMap map;
  std::memset(&map, 0, sizeof map);
  map.magic = TENSOR_MAP_MAGIC;
  map.rank = rank;
  map.element_bytes = element_bytes;
  map.swizzle_span = span;
  map.oob_fill_nan = oob_fill == OOB_FILL_NAN_REQUEST_ZERO_FMA ? 1u : 0u;
  map.is_float = is_float ? 1u : 0u;
  map.global_address = address;
  for (uint32_t i = 0; i < rank; ++i) {
    map.global_dim[i] = global_dim[i];
    map.global_stride[i] = i == 0 ? element_bytes : global_strides[i - 1];
    map.box_dim[i] = static_cast<uint16_t>(box_dim[i]);
    map.element_stride[i] = static_cast<uint8_t>(element_strides[i]);
  }
  for (uint32_t i = rank; i < 5; ++i) {
    map.global_dim[i] = 1;
    map.box_dim[i] = 1;
    map.element_stride[i] = 1;
  }
  *out = map;
  return true;
}

size_t tensor_map_box_bytes(const TensorMap& map) {
  size_t bytes = map.element_bytes;
  for (uint32_t i = 0; i < map.rank; ++i) bytes *= map.box_dim[i];
  return bytes;
}

bool tma_load_tile(const TensorMap& map, const int32_t* coords, uint32_t smem_address, GlobalMemory& gmem,
                   uint8_t* box, std::string* why) {
  if (map.magic != TENSOR_MAP_MAGIC || map.rank < 1 || map.rank > 5)
    return fail_load(why, "the tensor map was not encoded by cuTensorMapEncodeTiled");
  for (uint32_t i = 0; i < map.rank; ++i) {
    if (map.element_stride[i] != 1)
      return fail_load(why, "elementStrides[" + std::to_string(i) + "] = " + std::to_string(map.element_stride[i]) +
                                " (other than 1) is not supported by the emulation");
  }
  // The destination starts a whole swizzle pattern (8 lines of the span),
  // or a 128-byte line without swizzle.
  const uint32_t alignment = map.swizzle_span == 0 ? 128u : 8u * map.swizzle_span;
  if (smem_address % alignment != 0) {
    return fail_load(why, "shared destination " + hex(smem_address) + " is not " + std::to_string(alignment) +
                              "-byte aligned (" +
                              (map.swizzle_span ? std::to_string(map.swizzle_span) + "B swizzle" : "no swizzle") + ")");
  }
  const size_t total = tensor_map_box_bytes(map);
  if (total > (size_t{1} << 18))
    return fail_load(why, "the box's " + std::to_string(total) + " bytes exceed any shared memory (256 KiB)");
  const uint32_t eb = map.element_bytes;
  std::vector<uint8_t> dense(total);
  uint8_t fill[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  if (map.oob_fill_nan) nan_pattern(eb, fill);

  uint32_t dims[5] = {1, 1, 1, 1, 1};
  int64_t origin[5] = {0, 0, 0, 0, 0};
  for (uint32_t i = 0; i < map.rank; ++i) {
    dims[i] = map.box_dim[i];
    origin[i] = coords[i];
  }
  const int64_t extent0 = static_cast<int64_t>(map.global_dim[0]);
  size_t offset = 0;
  // One row of the box (fixed outer indices) at a time: its in-bounds part
  // is one contiguous run of global memory.
  for (uint32_t i4 = 0; i4 < dims[4]; ++i4)
    for (uint32_t i3 = 0; i3 < dims[3]; ++i3)
      for (uint32_t i2 = 0; i2 < dims[2]; ++i2)
        for (uint32_t i1 = 0; i1 < dims[1]; ++i1) {
          const uint32_t index[5] = {0, i1, i2, i3, i4};
          bool row_inside = true;
          uint64_t row_address = map.global_address;
          for (uint32_t d = 1; d < map.rank; ++d) {
            const int64_t c = origin[d] + index[d];
            if (c < 0 || c >= static_cast<int64_t>(map.global_dim[d])) {
              row_inside = false;
              break;
            }
            row_address += static_cast<uint64_t>(c) * map.global_stride[d];
          }
          int64_t first = 0;
          int64_t last = 0;  // the in-bounds box columns [first, last)
          if (row_inside) {
            first = origin[0] < 0 ? -origin[0] : 0;
            last = extent0 - origin[0];
            if (last > dims[0]) last = dims[0];
            if (first > last) first = last;
          }
          uint8_t* row = &dense[offset];
          for (int64_t i0 = 0; i0 < dims[0]; ++i0)
            if (i0 < first || i0 >= last) std::memcpy(row + i0 * eb, fill, eb);
          if (last > first) {
            const uint64_t address = row_address + static_cast<uint64_t>(origin[0] + first) * eb;
            const size_t bytes = static_cast<size_t>(last - first) * eb;
            if (!gmem.read(address, row + first * eb, bytes))
              return fail_load(why, "the global read of " + std::to_string(bytes) + " bytes at " + hex(address) +
                                        " was rejected");
          }
          offset += static_cast<size_t>(dims[0]) * eb;
        }

  // A box whose size is not a whole number of 128-byte lines can have its
  // last line's chunks swizzled past its end; that is found before `box` is
  // written.
  std::vector<uint32_t> placed(total);
  for (size_t o = 0; o < total; ++o) {
    placed[o] = swizzle(smem_address + static_cast<uint32_t>(o), static_cast<int>(map.swizzle_span)) - smem_address;
    if (placed[o] >= total)
      return fail_load(why, "the " + std::to_string(total) + "-byte box's swizzled placement reaches byte " +
                                std::to_string(placed[o]) + " past its end (not supported by the emulation)");
  }
  for (size_t o = 0; o < total; ++o) box[placed[o]] = dense[o];
  return true;
}

}  // namespace ptx
}  // namespace emu
}  // namespace moekit
