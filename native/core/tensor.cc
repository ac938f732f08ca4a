#include "tensor.h"

#include <algorithm>

#include "size_math.h"

namespace moekit {

int64_t shape_numel(const Shape& shape) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (!checked_mul(n, d, &n)) throw Error(ErrorCode::OutOfRange, "shape " + shape_string(shape) + " has more elements than int64 holds");
  }
  return n;
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

size_t checked_tensor_bytes(DType dtype, const Shape& shape, const char* op, const std::string& what) {
  // A zero anywhere makes the tensor empty, however large the other dimensions.
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (!checked_mul(numel, d, &numel) || numel > MAX_TENSOR_ELEMENTS) {
      throw_range_error(op, what, "at most 2^50 elements", "shape " + shape_string(shape) + ", whose element count overflows that");
    }
  }
  int64_t bytes = 0;
  if (!checked_mul(numel, static_cast<int64_t>(dtype_size(dtype)), &bytes) || static_cast<uint64_t>(bytes) > MAX_BUFFER_BYTES) {
    throw_range_error(op, what, "at most " + size_text(MAX_BUFFER_BYTES) + " bytes (what a device can address)",
                      "shape " + shape_string(shape) + " of " + dtype_name(dtype) + " (" + std::to_string(numel) + " elements)");
  }
  return static_cast<size_t>(bytes);
}

TensorRef allocate_tensor(Device& device, DType dtype, const Shape& shape, const char* op, const std::string& what, AllocOptions options) {
  TensorRef t;
  t.dtype = dtype;
  t.shape = shape;
  const size_t bytes = checked_tensor_bytes(dtype, shape, op, what);
  try {
    t.storage = device.allocate(bytes, options);
  } catch (const Error& e) {
    // Out of memory or a lost device: say which op asked.
    throw Error(e.code(), std::string(op) + ": " + e.what());
  }
  return t;
}

}  // namespace moekit
