#include "args.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "../core/size_math.h"
#include "../device/registry.h"
#include "tensor_handle.h"

namespace moekit {

namespace {

constexpr size_t MAX_RANK = 16;

Napi::Value arg_at(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() ? info[i] : info.Env().Undefined(); }

}  // namespace

std::string number_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  // The shortest text that reads back as the same double, as JS prints it.
  char text[32];
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, d);
    if (std::strtod(text, nullptr) == d) break;
  }
  return text;
}

std::string describe_value(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return std::string("a boolean (") + (v.As<Napi::Boolean>().Value() ? "true" : "false") + ")";
  if (v.IsNumber()) return "a number (" + number_text(v.As<Napi::Number>().DoubleValue()) + ")";
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.size() > 40) s = s.substr(0, 40) + "...";
    return "a string ('" + s + "')";
  }
  if (v.IsArray()) return "an array of length " + std::to_string(v.As<Napi::Array>().Length());
  if (v.IsTypedArray()) return "a typed array";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Value v = arg_at(info, i);
  if (!v.IsString()) throw_type_error(op, name, "a string", describe_value(v));
  return v.As<Napi::String>().Utf8Value();
}

bool arg_bool(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Value v = arg_at(info, i);
  if (!v.IsBoolean()) throw_type_error(op, name, "a boolean", describe_value(v));
  return v.As<Napi::Boolean>().Value();
}

double arg_number(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Value v = arg_at(info, i);
  if (!v.IsNumber()) throw_type_error(op, name, "a number", describe_value(v));
  return v.As<Napi::Number>().DoubleValue();
}

int64_t arg_int(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, int64_t lo, int64_t hi) {
  Napi::Value v = arg_at(info, i);
  if (!v.IsNumber()) throw_type_error(op, name, "an integer", describe_value(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
    throw_range_error(op, name, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", number_text(d));
  }
  return static_cast<int64_t>(d);
}

DType parse_dtype(const std::string& s, const char* op, const char* name) {
  for (int i = 0; i < NUM_DTYPES; ++i) {
    if (s == dtype_name(static_cast<DType>(i))) return static_cast<DType>(i);
  }
  throw_type_error(op, name, "one of 'f32', 'f16', 'bf16', 'e4m3', 'e5m2', 'i32', 'u8'", "'" + s + "'");
}

DType arg_dtype(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Value v = arg_at(info, i);
  if (!v.IsString()) throw_type_error(op, name, "one of 'f32', 'f16', 'bf16', 'e4m3', 'e5m2', 'i32', 'u8'", describe_value(v));
  return parse_dtype(v.As<Napi::String>().Utf8Value(), op, name);
}

Shape arg_shape(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Value v = arg_at(info, i);
  if (!v.IsArray()) throw_type_error(op, name, "an array of non-negative integers", describe_value(v));
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > MAX_RANK) throw_range_error(op, name, "at most " + std::to_string(MAX_RANK) + " dimensions", std::to_string(a.Length()));
  Shape shape;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value d = a.Get(k);
    const std::string where = std::string(name) + "[" + std::to_string(k) + "]";
    if (!d.IsNumber()) throw_type_error(op, where, "a non-negative integer", describe_value(d));
    const double x = d.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(x) || x != std::floor(x) || x < 0) throw_range_error(op, where, "a non-negative integer", number_text(x));
    if (x > static_cast<double>(MAX_TENSOR_ELEMENTS)) throw_range_error(op, where, "at most 2^50", number_text(x));
    shape.push_back(static_cast<int64_t>(x));
  }
  // A zero anywhere makes the tensor empty, however large the other dimensions.
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return shape;
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (numel > MAX_TENSOR_ELEMENTS / d) throw_range_error(op, name, "a shape of at most 2^50 elements", shape_string(shape));
    numel *= d;
  }
  return shape;
}

Device& arg_device(const Napi::CallbackInfo& info, size_t i, const char* op) {
  return get_device(arg_string(info, i, op, "device"));
}

const TensorRef& arg_tensor(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return TensorHandle::unwrap(arg_at(info, i), op, name);
}

void expect_dtype(const TensorRef& t, DType want, const char* op, const char* name) {
  if (t.dtype != want) throw_type_error(op, std::string(name) + ".dtype", std::string("'") + dtype_name(want) + "'", std::string("'") + dtype_name(t.dtype) + "'");
}

void expect_rank(const TensorRef& t, int rank, const char* op, const char* name) {
  if (t.rank() != rank) {
    throw_range_error(op, std::string(name) + ".shape", "of rank " + std::to_string(rank), shape_string(t.shape));
  }
}

void expect_same_device(const TensorRef& a, const TensorRef& b, const char* op, const char* name_a, const char* name_b) {
  if (&a.device() != &b.device()) {
    throw_type_error(op, name_b, std::string("on the same device as ") + name_a + " (" + a.device().id() + ")",
                     "a tensor on " + b.device().id());
  }
}

void expect_shape(const TensorRef& t, const Shape& want, const char* op, const std::string& name, const std::string& why) {
  if (t.shape != want) throw_range_error(op, name + ".shape", shape_string(want) + " (" + why + ")", shape_string(t.shape));
}

void expect_float_dtype(DType d, const char* op, const char* name) {
  if (d != DType::F32 && d != DType::BF16 && d != DType::F16) throw_type_error(op, name, "'f32', 'bf16' or 'f16'", quoted(d));
}

std::string quoted(DType d) { return std::string("'") + dtype_name(d) + "'"; }

Napi::Value shape_to_js(Napi::Env env, const Shape& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(shape[i])));
  return a;
}

}  // namespace moekit
