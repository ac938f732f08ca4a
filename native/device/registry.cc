#include "registry.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "cpu_device.h"

namespace moekit {

namespace {

std::mutex& devices_mutex() {
  static auto* m = new std::mutex();
  return *m;
}

// GPUs created so far (never destroyed: queue threads live to process exit).
std::vector<std::unique_ptr<Device>>& created_gpus() {
  static auto* created = new std::vector<std::unique_ptr<Device>>();
  return *created;
}

// The CPU device once it exists (the exit handler must not create it).
std::atomic<Device*> cpu_made{nullptr};

// At exit, before the statically linked CUDA runtime tears itself down:
// ops still queued are skipped and each queue finishes what it is running,
// so no queue thread calls into CUDA during the teardown. Exit handlers run
// in reverse order of registration: registering after the first CUDA call
// (the probe) puts it ahead of the runtime's own. Every queue is marked
// first and drained after, so no queue runs its backlog in full while
// another is drained. It runs once, and nothing may escape it.
void stop_queues_at_exit() {
  static std::atomic<bool> done{false};
  if (done.exchange(true)) return;
  try {
    uint64_t skipped = 0;
    std::vector<Device*> all;
    if (Device* cpu = cpu_made.load()) all.push_back(cpu);
    {
      std::lock_guard<std::mutex> lock(devices_mutex());
      for (auto& d : created_gpus()) all.push_back(d.get());
    }
    for (Device* d : all) d->begin_stop();
    for (Device* d : all) d->stop();
    for (Device* d : all) skipped += d->queue_stats().skipped;
    if (const char* debug = std::getenv("MOEKIT_DEBUG_EXIT"); debug && *debug == '1') {
      std::fprintf(stderr, "moekit: queues stopped at exit; %llu queued ops were skipped in all\n", static_cast<unsigned long long>(skipped));
    }
  } catch (...) {
    // Exiting anyway.
  }
}

}  // namespace

void register_exit_handler() {
  static const bool registered = [] {
    (void)cuda_probe();  // initialise the CUDA runtime (and its exit handler) first
    return std::atexit(stop_queues_at_exit) == 0;
  }();
  (void)registered;
}

int first_gpu_in_use() {
  std::lock_guard<std::mutex> lock(devices_mutex());
  return created_gpus().empty() ? -1 : created_gpus().front()->ordinal();
}

void register_exit_handler_again() { (void)std::atexit(stop_queues_at_exit); }

Device& cpu_device() {
  static CpuDevice* cpu = [] {
    auto* d = new CpuDevice(read_host_memory());
    cpu_made.store(d);
    register_exit_handler();
    return d;
  }();
  return *cpu;
}

const CudaProbe& cuda_probe() {
  static const CudaProbe* probe = new CudaProbe(probe_cuda());
  return *probe;
}

std::vector<DeviceInfo> device_infos() {
  std::vector<DeviceInfo> infos{cpu_device().info()};
  if (auto lost = cpu_device().lost()) infos[0].lost = lost->what();
  std::lock_guard<std::mutex> lock(devices_mutex());
  for (auto info : cuda_probe().devices) {
    for (auto& d : created_gpus()) {
      if (d->id() == info.id) {
        if (auto lost = d->lost()) info.lost = lost->what();
      }
    }
    infos.push_back(info);
  }
  return infos;
}

Device& get_device(const std::string& id) {
  if (id == "cpu") return cpu_device();
  {
    std::lock_guard<std::mutex> lock(devices_mutex());
    for (auto& d : created_gpus()) {
      if (d->id() == id) return *d;
    }
    for (const auto& info : cuda_probe().devices) {
      if (info.id == id) {
        created_gpus().push_back(make_cuda_device(info));
        Device& made = *created_gpus().back();
        register_exit_handler();
        return made;
      }
    }
  }
  std::string known = "cpu";
  for (const auto& info : cuda_probe().devices) known += ", " + info.id;
  std::string message = "no device '" + id + "' (devices: " + known + ")";
  if (cuda_probe().devices.empty() && id.rfind("cuda", 0) == 0) message += "; " + cuda_probe().unavailable_reason;
  throw_unsupported(message);
}

}  // namespace moekit
