// Reading binding arguments with errors in the house format:
// "<op>: <arg> must be <expected>, got <actual>". lib/ checks JS types first
// with the same wording; these checks are the native safety net and the
// only check of shapes, dtypes and devices.
#pragma once

#include <napi.h>

#include <string>

#include "../core/tensor.h"

namespace moekit {

// "undefined", "a number (3.5)", "a string ('x')", "an array", ...
std::string describe_value(const Napi::Value& v);
// A number as JS would show it: "NaN", "-Infinity", "3", "1e+300".
std::string number_text(double d);

std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
bool arg_bool(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
double arg_number(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
// An integer in [lo, hi].
int64_t arg_int(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, int64_t lo, int64_t hi);
DType arg_dtype(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
DType parse_dtype(const std::string& s, const char* op, const char* name);
// An array of non-negative integers whose element count fits in memory sizes.
Shape arg_shape(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
Device& arg_device(const Napi::CallbackInfo& info, size_t i, const char* op);
const TensorRef& arg_tensor(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);

// Checks used by ops.
void expect_dtype(const TensorRef& t, DType want, const char* op, const char* name);
void expect_rank(const TensorRef& t, int rank, const char* op, const char* name);
void expect_same_device(const TensorRef& a, const TensorRef& b, const char* op, const char* name_a, const char* name_b);
// `t`'s shape must be `want`; `why` says where that shape comes from.
void expect_shape(const TensorRef& t, const Shape& want, const char* op, const std::string& name, const std::string& why);

// `d` (the dtype of `name`) must be f32, bf16 or f16: the floating-point
// dtypes that activations and outputs come in.
void expect_float_dtype(DType d, const char* op, const char* name);

// "'bf16'": a dtype as messages quote it.
std::string quoted(DType d);

Napi::Value shape_to_js(Napi::Env env, const Shape& shape);

}  // namespace moekit
