#include "host_convert.h"

#include <cmath>
#include <type_traits>

#include "../../common/float_convert.h"
#include "../../core/thread_pool.h"

namespace moekit {

namespace {

constexpr int64_t CONVERT_CHUNK = 1 << 16;

template <typename T>
void convert_from(const T* src, int64_t n, void* dst, DType dtype) {
  if constexpr (std::is_same_v<T, float>) {
    if (dtype == DType::BF16) {
      uint16_t* out = static_cast<uint16_t*>(dst);
      parallel_for(n, CONVERT_CHUNK, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) out[i] = bf16_from_float(src[i]);
      });
      return;
    }
  }
  parallel_for(n, CONVERT_CHUNK, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) store_from_double(dst, dtype, i, static_cast<double>(src[i]));
  });
}

template <typename T>
int64_t first_out_of(const T* src, int64_t n, double lo, double hi, double* bad) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(src[i]);
    // NaN fails both comparisons and the whole-number test.
    if (!(v >= lo && v <= hi) || v != std::floor(v)) {
      *bad = v;
      return i;
    }
  }
  return -1;
}

}  // namespace

int64_t first_invalid_integer(const void* src, HostArray src_type, int64_t n, DType dtype, double* bad) {
  double lo = 0, hi = 0;
  if (dtype == DType::I32) {
    lo = -2147483648.0;
    hi = 2147483647.0;
  } else if (dtype == DType::U8) {
    hi = 255.0;
  } else {
    return -1;
  }
  switch (src_type) {
    case HostArray::I8: return first_out_of(static_cast<const int8_t*>(src), n, lo, hi, bad);
    case HostArray::U8: return first_out_of(static_cast<const uint8_t*>(src), n, lo, hi, bad);
    case HostArray::I16: return first_out_of(static_cast<const int16_t*>(src), n, lo, hi, bad);
    case HostArray::U16: return first_out_of(static_cast<const uint16_t*>(src), n, lo, hi, bad);
    case HostArray::I32: return first_out_of(static_cast<const int32_t*>(src), n, lo, hi, bad);
    case HostArray::U32: return first_out_of(static_cast<const uint32_t*>(src), n, lo, hi, bad);
    case HostArray::F32: return first_out_of(static_cast<const float*>(src), n, lo, hi, bad);
    case HostArray::F64: return first_out_of(static_cast<const double*>(src), n, lo, hi, bad);
  }
  return -1;
}

void convert_host_array(const void* src, HostArray src_type, int64_t n, void* dst, DType dtype) {
  switch (src_type) {
    case HostArray::I8: convert_from(static_cast<const int8_t*>(src), n, dst, dtype); break;
    case HostArray::U8: convert_from(static_cast<const uint8_t*>(src), n, dst, dtype); break;
    case HostArray::I16: convert_from(static_cast<const int16_t*>(src), n, dst, dtype); break;
    case HostArray::U16: convert_from(static_cast<const uint16_t*>(src), n, dst, dtype); break;
    case HostArray::I32: convert_from(static_cast<const int32_t*>(src), n, dst, dtype); break;
    case HostArray::U32: convert_from(static_cast<const uint32_t*>(src), n, dst, dtype); break;
    case HostArray::F32: convert_from(static_cast<const float*>(src), n, dst, dtype); break;
    case HostArray::F64: convert_from(static_cast<const double*>(src), n, dst, dtype); break;
  }
}

void decode_to_f32(const void* src, DType dtype, int64_t n, float* dst) {
  parallel_for(n, CONVERT_CHUNK, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = load_as_float(src, dtype, i);
  });
}

}  // namespace moekit
