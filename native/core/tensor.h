// What a tensor is to the native code: a buffer, a dtype and a row-major
// contiguous shape. Views (reshape) share the buffer. Ops read their inputs
// and write fresh outputs, so a tensor's contents never change once produced.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../common/dtype.h"
#include "device.h"

namespace moekit {

using Shape = std::vector<int64_t>;

// The element count; throws Error(OutOfRange) when it overflows int64
// (shapes that passed arg_shape or allocate_tensor never do).
int64_t shape_numel(const Shape& shape);
std::string shape_string(const Shape& shape);  // "[2, 3]"

struct TensorRef {
  std::shared_ptr<Storage> storage;
  DType dtype = DType::F32;
  Shape shape;

  Device& device() const { return storage->device(); }
  int64_t numel() const { return shape_numel(shape); }
  size_t nbytes() const { return static_cast<size_t>(numel() * dtype_size(dtype)); }
  void* data() const { return storage->data(); }
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(storage->data());
  }
  int64_t dim(int i) const { return shape[static_cast<size_t>(i < 0 ? i + static_cast<int>(shape.size()) : i)]; }
  int rank() const { return static_cast<int>(shape.size()); }
};

// The bytes of a tensor of `dtype` and `shape`, checked: a RangeError names
// `op` and `what` (e.g. "output") when the element count exceeds
// MAX_TENSOR_ELEMENTS or the bytes exceed MAX_BUFFER_BYTES.
size_t checked_tensor_bytes(DType dtype, const Shape& shape, const char* op, const std::string& what);

// A new tensor of `dtype` and `shape` on `device` (memory allocated now, on
// the calling thread; contents written by queued work). `op` and `what`
// name the tensor in errors ("gemm", "output"); sizes are checked first.
TensorRef allocate_tensor(Device& device, DType dtype, const Shape& shape, const char* op, const std::string& what,
                          AllocOptions options = AllocOptions());

}  // namespace moekit
