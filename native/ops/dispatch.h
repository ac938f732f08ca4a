// Choosing and running the implementation of an op call: the CPU twin on
// the CPU, a CUDA version (by name or `auto`, see kernel_version.h) on a GPU.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "../common/kernel_version.h"
#include "../core/device.h"
#include "registry.h"

namespace moekit {

// Compute capability as an integer, e.g. 90 for 9.0 (0 on the CPU).
inline int device_sm(const Device& d) {
  const DeviceInfo info = d.info();
  return info.cc_major * 10 + info.cc_minor;
}

// Resolves `impl` for a call on `device`: nullptr for the CPU twin, else the
// CUDA version to launch. Throws when `impl` names nothing usable here.
template <typename Params>
const KernelVersion<Params>* choose_impl(const std::vector<KernelVersion<Params>>& versions, const std::string& impl,
                                         const Device& device, const Params& p, const char* op) {
  if (device.kind() == DeviceKind::Cpu) {
    if (impl != "auto" && impl != "cpu") {
      throw_range_error(op, "options.impl", "'auto' or 'cpu' for tensors on the CPU", "'" + impl + "'");
    }
    return nullptr;
  }
  if (versions.empty()) throw_unsupported(std::string(op) + ": this build has no CUDA kernels");
  return &pick_version(versions, impl, device_sm(device), p, op, code_absent);
}

// Chooses the implementation of `op` for `impl` on `device` and queues it:
// the chosen CUDA version on the device's stream, or else the CPU twin.
// `io` names the buffers the call reads and writes (scratch included), so
// failures follow the data and the buffers live until the work is issued.
template <typename Params>
void enqueue_op(Device& device, const char* op, TaskIO io, const std::vector<KernelVersion<Params>>& versions, const std::string& impl,
                void (*cpu_twin)(const Params&), const Params& p) {
  const KernelVersion<Params>* version = choose_impl(versions, impl, device, p, op);
  device.enqueue(op, std::move(io), [version, cpu_twin, p](ExecContext& ctx) {
    if (version) {
      version->launch(p, static_cast<cudaStream_t>(ctx.stream));
    } else {
      cpu_twin(p);
    }
  });
}

}  // namespace moekit
