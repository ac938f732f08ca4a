// One register_<family>() per op family; native/addon.cc only calls them.
#pragma once

#include <napi.h>

namespace moekit {

void register_runtime(Napi::Env env, Napi::Object exports);
void register_fp8(Napi::Env env, Napi::Object exports);
void register_quantize(Napi::Env env, Napi::Object exports);
void register_gemm(Napi::Env env, Napi::Object exports);
void register_baselines(Napi::Env env, Napi::Object exports);

}  // namespace moekit
