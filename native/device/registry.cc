#include "registry.h"

#include <memory>
#include <mutex>

#include "cpu_device.h"

namespace moekit {

Device& cpu_device() {
  static CpuDevice* cpu = new CpuDevice();
  return *cpu;
}

const CudaProbe& cuda_probe() {
  static const CudaProbe* probe = new CudaProbe(probe_cuda());
  return *probe;
}

std::vector<DeviceInfo> device_infos() {
  std::vector<DeviceInfo> infos{cpu_device().info()};
  for (const auto& d : cuda_probe().devices) infos.push_back(d);
  return infos;
}

Device& get_device(const std::string& id) {
  if (id == "cpu") return cpu_device();
  static std::mutex mutex;
  static auto* created = new std::vector<std::unique_ptr<Device>>();
  std::lock_guard<std::mutex> lock(mutex);
  for (auto& d : *created) {
    if (d->id() == id) return *d;
  }
  for (const auto& info : cuda_probe().devices) {
    if (info.id == id) {
      created->push_back(make_cuda_device(info));
      return *created->back();
    }
  }
  std::string known = "cpu";
  for (const auto& info : cuda_probe().devices) known += ", " + info.id;
  std::string message = "no device '" + id + "' (devices: " + known + ")";
  if (cuda_probe().devices.empty() && id.rfind("cuda", 0) == 0) message += "; " + cuda_probe().unavailable_reason;
  throw_unsupported(message);
}

}  // namespace moekit
