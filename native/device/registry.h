// The devices of this process: the CPU, then each usable CUDA GPU. Device
// objects are created on first use (a GPU's context costs time and memory)
// and never destroyed: their queue threads live until the process exits.
#pragma once

#include <string>
#include <vector>

#include "../core/device.h"
#include "cuda_runtime_host.h"

namespace moekit {

Device& cpu_device();

// GPUs found at first call (never throws).
const CudaProbe& cuda_probe();

// Infos of every listed device, CPU first.
std::vector<DeviceInfo> device_infos();

// "cpu" or "cuda:N", created on first use. Throws Error(Unsupported) naming
// the devices there are when `id` is not one of them.
Device& get_device(const std::string& id);

// The ordinal of the first GPU this process has used (created), or -1.
int first_gpu_in_use();

// The exit handler that stops the device queues (registry.cc). It must run
// before any CUDA runtime's own exit handler: a library that brings its own
// runtime (cuBLASLt, loaded later) calls register_exit_handler_again()
// after loading, which puts the handler ahead of that one too (it runs once).
void register_exit_handler();
void register_exit_handler_again();

}  // namespace moekit
