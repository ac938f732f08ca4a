// emulationSelfTest(name): runs one of the kernels with a planted bug
// (cuda/emulation/selftest/faults.cu) on the emulated GPU and returns what
// the CUDA runtime said, so that the emulation's checks are tested like any
// other code (tests/emulation/checks.test.ts). A test hook of the emulation
// build only: the kernels are compiled into no other build.
//
// It bypasses the device queue on purpose: the hook is about the checks, not
// about how the addon reports failures (tests/runtime/ covers that), and a
// bare cudaMalloc / launch / cudaStreamSynchronize shows exactly the error
// and the report the runtime gives.
#if defined(MOEKIT_EMULATION)

#include <napi.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../../../cuda/common/check.h"
#include "../../../cuda/emulation/selftest/faults.h"
#include "../../binding/args.h"
#include "../../binding/js_errors.h"
#include "../registry.h"

namespace moekit {

namespace {

// The stream and buffer of one run, released when it ends. After a fault
// every call on the device fails with the fault's error, so the release's
// own errors are ignored: the device is lost either way.
struct SelfTestResources {
  cudaStream_t stream = nullptr;
  float* buffer = nullptr;
  ~SelfTestResources() {
    if (buffer != nullptr) (void)cudaFree(buffer);
    if (stream != nullptr) (void)cudaStreamDestroy(stream);
    (void)cudaGetLastError();
  }
};

// emulationSelfTest(name) -> { error, message }: runs kernel `name` (one of
// selftest::fault_names()) on device 0 over a fresh buffer and waits for it.
// `error` is the cudaGetErrorName of what cudaStreamSynchronize returned
// ('cudaSuccess' when the kernel ran clean), `message` its
// cudaGetErrorString, which on the emulated GPU carries the fault's report
// (kernel, block, thread, what went wrong). Synchronous, on the calling
// thread. A fault is sticky: the device is lost for the rest of the process,
// so a process runs one kernel that faults. Throws for an unknown name or a
// launch the runtime refuses.
Napi::Value emulation_self_test(const Napi::CallbackInfo& info) {
  const char* op = "emulationSelfTest";
  const std::string name = arg_string(info, 0, op, "name");
  const std::vector<std::string> names = selftest::fault_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string known;
    for (const std::string& n : names) known += (known.empty() ? "'" : ", '") + n + "'";
    throw Error(ErrorCode::OutOfRange, std::string(op) + ": name must be one of " + known + ", got '" + name + "'");
  }
  SelfTestResources r;
  MOEKIT_CUDA_CHECK(cudaSetDevice(0));
  MOEKIT_CUDA_CHECK(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
  MOEKIT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&r.buffer), selftest::FAULT_BUFFER_FLOATS * sizeof(float)));
  (void)selftest::launch_fault(name, r.buffer, r.stream);  // a known name: always launched
  const cudaError_t err = cudaStreamSynchronize(r.stream);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("error", cudaGetErrorName(err));
  out.Set("message", cudaGetErrorString(err));
  return out;
}

void install(Napi::Env env, Napi::Object exports) {
  exports.Set("emulationSelfTest", Napi::Function::New<guarded<emulation_self_test>>(env, "emulationSelfTest"));
}

}  // namespace

}  // namespace moekit

MOEKIT_REGISTER_BINDINGS(moekit::install)

#endif  // MOEKIT_EMULATION
