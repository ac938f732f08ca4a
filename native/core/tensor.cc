#include "tensor.h"

namespace moekit {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
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

TensorRef allocate_tensor(Device& device, DType dtype, const Shape& shape) {
  TensorRef t;
  t.dtype = dtype;
  t.shape = shape;
  t.storage = device.allocate(t.nbytes());
  return t;
}

}  // namespace moekit
