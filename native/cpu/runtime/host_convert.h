// Host-side conversions at the JS boundary: typed-array data into a dtype
// (tensor creation) and a dtype's storage into f32 (toArray).
#pragma once

#include <cstdint>

#include "../../common/dtype.h"

namespace moekit {

// Element types of JS typed arrays accepted as tensor data.
enum class HostArray { I8, U8, I16, U16, I32, U32, F32, F64 };

// dst[i] = dtype(src[i]) for i < n, with the float_convert.h rules.
void convert_host_array(const void* src, HostArray src_type, int64_t n, void* dst, DType dtype);

// For an integer dtype (i32, u8): the index of the first element that is
// not a whole number in the dtype's range, with its value in *bad; -1 when
// all are. Float dtypes take any number (-1).
int64_t first_invalid_integer(const void* src, HostArray src_type, int64_t n, DType dtype, double* bad);

// dst[i] = f32(src[i]); exact for every float dtype.
void decode_to_f32(const void* src, DType dtype, int64_t n, float* dst);

}  // namespace moekit
