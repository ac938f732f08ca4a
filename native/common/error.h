// The one exception type of the native code. Launchers and the binding throw
// it; the binding turns it into a JS error whose `code` is error_code_name().
// Never exit or abort: a bad call must leave the process and device usable.
#pragma once

#include <stdexcept>
#include <string>

namespace moekit {

enum class ErrorCode {
  InvalidArgument,  // JS TypeError: wrong kind of value
  OutOfRange,       // JS RangeError: right kind, unacceptable value (shape, size)
  Cuda,             // a CUDA call failed
  OutOfMemory,      // an allocation failed; the device stays usable
  Unsupported,      // valid request this build or device cannot serve
  Disposed,         // use of a disposed tensor
  Kernel,           // queued work failed for a reason other than CUDA
  DeviceLost,       // a fatal fault (illegal address, ...): the device is unusable until the process restarts
};

inline const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::InvalidArgument: return "ERR_MOEKIT_INVALID_ARG";
    case ErrorCode::OutOfRange: return "ERR_MOEKIT_OUT_OF_RANGE";
    case ErrorCode::Cuda: return "ERR_MOEKIT_CUDA";
    case ErrorCode::OutOfMemory: return "ERR_MOEKIT_OUT_OF_MEMORY";
    case ErrorCode::Unsupported: return "ERR_MOEKIT_UNSUPPORTED";
    case ErrorCode::Disposed: return "ERR_MOEKIT_DISPOSED";
    case ErrorCode::Kernel: return "ERR_MOEKIT_KERNEL";
    case ErrorCode::DeviceLost: return "ERR_MOEKIT_DEVICE_LOST";
  }
  return "ERR_MOEKIT_KERNEL";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// "<op>: <arg> must be <expected>, got <actual>" (docs/architecture.md, "Errors").
[[noreturn]] inline void throw_type_error(const std::string& op, const std::string& arg, const std::string& expected,
                                          const std::string& actual) {
  throw Error(ErrorCode::InvalidArgument, op + ": " + arg + " must be " + expected + ", got " + actual);
}

[[noreturn]] inline void throw_range_error(const std::string& op, const std::string& arg, const std::string& expected,
                                           const std::string& actual) {
  throw Error(ErrorCode::OutOfRange, op + ": " + arg + " must be " + expected + ", got " + actual);
}

[[noreturn]] inline void throw_unsupported(const std::string& message) {
  throw Error(ErrorCode::Unsupported, message);
}

}  // namespace moekit
