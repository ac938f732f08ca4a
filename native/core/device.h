// A device is an allocator plus an in-order queue, on the CPU or a CUDA GPU.
//
// Execution model (DESIGN.md section 3): ops allocate their outputs on the
// JS thread (so out-of-memory throws at the call) and enqueue their work;
// each device runs its queue on a thread of its own, in order. Tensors are
// immutable once produced, so a buffer needs no lock: a task holds a
// shared_ptr to every buffer it touches, and a buffer is freed when its last
// holder lets go, after all work that used it was issued.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../../cuda/common/error.h"
#include "work_queue.h"

namespace moekit {

enum class DeviceKind { Cpu, Cuda };

struct DeviceInfo {
  DeviceKind kind = DeviceKind::Cpu;
  int ordinal = 0;
  std::string id;    // "cpu", "cuda:0"
  std::string name;  // CPU model or GPU product name
  uint64_t total_memory = 0;
  int threads = 0;  // CPU: threads the backend uses
  // CUDA only
  int cc_major = 0;
  int cc_minor = 0;
  int sm_count = 0;
  uint64_t l2_bytes = 0;
  uint64_t shared_memory_per_block_optin = 0;
  uint64_t shared_memory_per_sm = 0;
  int clock_khz = 0;
  int memory_clock_khz = 0;
  int memory_bus_width = 0;
  int driver_version = 0;
  int runtime_version = 0;
};

struct MemoryStats {
  uint64_t bytes = 0;    // bytes of live buffers
  uint64_t buffers = 0;  // live buffers (views share one)
  uint64_t tensors = 0;  // live, undisposed tensor handles
  uint64_t reserved = 0;  // CUDA: bytes the memory pool holds
  uint64_t device_free = 0;
  uint64_t device_total = 0;
};

class Device;

// One allocation. Freed (through its device) when the last reference goes.
class Storage {
 public:
  Storage(Device* device, void* data, size_t bytes, bool pinned) : device_(device), data_(data), bytes_(bytes), pinned_(pinned) {}
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Device& device() const { return *device_; }
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  bool pinned() const { return pinned_; }

 private:
  Device* device_;
  void* data_;
  size_t bytes_;
  bool pinned_;
};

// What a queued task runs with.
struct ExecContext {
  Device& device;
  void* stream;  // cudaStream_t on CUDA devices, null on the CPU
};

// A point in a device's queue, for timing: a CUDA event or a host clock reading.
class Marker {
 public:
  virtual ~Marker() = default;
};

class Device {
 public:
  using Task = std::function<void(ExecContext&)>;

  Device(DeviceKind kind, int ordinal);
  virtual ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  DeviceKind kind() const { return kind_; }
  int ordinal() const { return ordinal_; }
  const std::string& id() const { return id_; }
  virtual DeviceInfo info() const = 0;

  // JS thread. `pinned` (CPU only): page-locked memory for fast GPU copies.
  // `staging`: a buffer the caller fills at once (never poisoned); staging
  // allocations may come from queue threads, so they skip the
  // out-of-memory retry, which drains the queue.
  // Throws Error(OutOfMemory) when nothing can be had; the device stays usable.
  std::shared_ptr<Storage> allocate(size_t bytes, bool pinned = false, bool staging = false);

  // Runs `task` after everything enqueued before it. An exception it throws
  // is kept and reported by the next read (take_error).
  void enqueue(Task task);

  // The first failure of queued work since the last call, cleared by taking it.
  std::optional<Error> take_error();

  // Queue-side primitives (called from tasks).
  virtual void copy_to_host(ExecContext& ctx, void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_from_host(ExecContext& ctx, void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_within(ExecContext& ctx, void* dst, const void* src, size_t bytes) = 0;
  virtual void fill_bytes(ExecContext& ctx, void* dst, int value, size_t bytes) = 0;
  // Waits until all work issued so far has completed (CUDA: the stream).
  virtual void finish(ExecContext& ctx) = 0;
  virtual std::unique_ptr<Marker> record_marker(ExecContext& ctx) = 0;
  // Milliseconds between two markers of this device; call after finish().
  virtual double elapsed_ms(const Marker& start, const Marker& end) = 0;

  MemoryStats memory();
  void tensor_created() { live_tensors_.fetch_add(1); }
  void tensor_released() { live_tensors_.fetch_sub(1); }

  // Debug aid for tests: fill every new buffer with 0xFF bytes (NaN in every
  // float dtype) before anything writes it, so unwritten outputs show.
  void set_poison(bool on) { poison_ = on; }

  // Called by ~Storage, on whichever thread dropped the last reference.
  void release(Storage& storage);

 protected:
  virtual void* raw_allocate(size_t bytes, bool pinned) = 0;  // nullptr when out of memory
  virtual void raw_free(void* data, size_t bytes, bool pinned) = 0;
  virtual void retry_after_out_of_memory() {}
  virtual void add_pool_stats(MemoryStats&) {}
  void* queue_stream_ = nullptr;
  WorkQueue& queue() { return *queue_; }
  void start_queue(std::function<void()> thread_init);

 private:
  DeviceKind kind_;
  int ordinal_;
  std::string id_;
  std::unique_ptr<WorkQueue> queue_;
  std::mutex error_mutex_;
  std::optional<Error> error_;
  std::atomic<uint64_t> live_bytes_{0};
  std::atomic<uint64_t> live_buffers_{0};
  std::atomic<uint64_t> live_tensors_{0};
  std::atomic<bool> poison_{false};
};

}  // namespace moekit
