// FP8 family bindings: host encode/decode of the OCP formats.
#include <napi.h>

#include "../../common/float_convert.h"
#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../../core/thread_pool.h"
#include "../registry.h"

namespace moekit {

namespace {

constexpr int64_t CODEC_CHUNK = 1 << 16;

Narrow arg_fp8_format(const Napi::CallbackInfo& info, size_t i, const char* op) {
  const std::string f = arg_string(info, i, op, "format");
  if (f == "e4m3") return Narrow::E4M3;
  if (f == "e5m2") return Narrow::E5M2;
  throw_type_error(op, "format", "'e4m3' or 'e5m2'", "'" + f + "'");
}

template <typename T>
void encode_all(const T* src, int64_t n, uint8_t* dst, Narrow format, bool saturate) {
  parallel_for(n, CODEC_CHUNK, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const double x = static_cast<double>(src[i]);
      dst[i] = static_cast<uint8_t>(format == Narrow::E4M3 ? encode_narrow<Narrow::E4M3>(x, saturate)
                                                           : encode_narrow<Narrow::E5M2>(x, saturate));
    }
  });
}

// fp8Encode(values: Float32Array | Float64Array, format, saturate) -> Uint8Array
Napi::Value fp8_encode(const Napi::CallbackInfo& info) {
  const char* op = "fp8.encode";
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw_type_error(op, "values", "a Float32Array or Float64Array", describe_value(info.Length() ? info[0] : info.Env().Undefined()));
  Napi::TypedArray values = info[0].As<Napi::TypedArray>();
  const napi_typedarray_type type = values.TypedArrayType();
  if (type != napi_float32_array && type != napi_float64_array) throw_type_error(op, "values", "a Float32Array or Float64Array", "another typed array");
  const Narrow format = arg_fp8_format(info, 1, op);
  const bool saturate = arg_bool(info, 2, op, "saturate");
  const int64_t n = static_cast<int64_t>(values.ElementLength());
  Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), static_cast<size_t>(n));
  if (type == napi_float32_array) {
    encode_all(values.As<Napi::Float32Array>().Data(), n, out.Data(), format, saturate);
  } else {
    encode_all(values.As<Napi::Float64Array>().Data(), n, out.Data(), format, saturate);
  }
  return out;
}

// fp8Decode(codes: Uint8Array, format) -> Float32Array
Napi::Value fp8_decode(const Napi::CallbackInfo& info) {
  const char* op = "fp8.decode";
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw_type_error(op, "codes", "a Uint8Array", describe_value(info.Length() ? info[0] : info.Env().Undefined()));
  }
  Napi::Uint8Array codes = info[0].As<Napi::Uint8Array>();
  const Narrow format = arg_fp8_format(info, 1, op);
  const int64_t n = static_cast<int64_t>(codes.ElementLength());
  Napi::Float32Array out = Napi::Float32Array::New(info.Env(), static_cast<size_t>(n));
  const uint8_t* src = codes.Data();
  float* dst = out.Data();
  parallel_for(n, CODEC_CHUNK, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      dst[i] = format == Narrow::E4M3 ? decode_narrow<Narrow::E4M3>(src[i]) : decode_narrow<Narrow::E5M2>(src[i]);
    }
  });
  return out;
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("fp8Encode", Napi::Function::New<guarded<fp8_encode>>(env, "fp8Encode"));
  exports.Set("fp8Decode", Napi::Function::New<guarded<fp8_decode>>(env, "fp8Decode"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)
