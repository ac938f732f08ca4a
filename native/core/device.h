// A device is an allocator plus an in-order queue, on the CPU or a CUDA GPU.
//
// Execution model (docs/architecture.md, "Execution model"): ops allocate their outputs on the
// JS thread (so out-of-memory throws at the call) and enqueue their work;
// each device runs its queue on a thread of its own, in order. Tensors are
// immutable once produced, so a buffer needs no lock: a task holds a
// shared_ptr to every buffer it touches, and a buffer is freed when its last
// holder lets go, after all work that used it was issued.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../common/error.h"
#include "env_scope.h"
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
  // Set once a fatal fault made the device unusable: why, and what to do.
  std::string lost;
};

struct MemoryStats {
  uint64_t bytes = 0;    // bytes of live buffers
  uint64_t buffers = 0;  // live buffers (views share one)
  uint64_t tensors = 0;  // live, undisposed tensor handles
  uint64_t reserved = 0;  // CUDA: bytes the memory pool holds
  uint64_t device_free = 0;
  uint64_t device_total = 0;
  uint64_t cached = 0;  // CPU: freed host blocks kept for reuse (pageable and pinned)
  uint64_t limit = 0;   // CPU: the most host memory the device may use
};

// What a device's queue has done, for tests and diagnostics.
struct QueueStats {
  uint64_t pending = 0;  // tasks queued or running
  uint64_t skipped = 0;  // ops not run because the environment that queued them had ended
};

class Device;

// One allocation. Freed (through its device) when the last reference goes.
// A buffer that queued work failed to produce carries that failure: reads
// of it reject with it, and work that reads it is not run and fails too.
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

  // The first failure recorded wins.
  void fail(const Error& error);
  std::optional<Error> failure() const;

 private:
  Device* device_;
  void* data_;
  size_t bytes_;
  bool pinned_;
  mutable std::mutex failure_mutex_;
  std::optional<Error> failure_;
};

using StoragePtr = std::shared_ptr<Storage>;

// The buffers a queued task reads and writes, so failures follow the data.
struct TaskIO {
  TaskIO(std::vector<StoragePtr> in, std::vector<StoragePtr> out, std::function<void()> await_first = nullptr,
         std::function<void()> finally_last = nullptr)
      : inputs(std::move(in)), outputs(std::move(out)), await(std::move(await_first)), finally(std::move(finally_last)) {}
  std::vector<StoragePtr> inputs;
  std::vector<StoragePtr> outputs;
  // Buffers the task reads and writes in place (a paged KV cache that
  // tokens are appended to). Work queued after the task sees the new
  // contents; work queued before it saw the old. A failed in-place input
  // stops the task, and a task that fails, or is not run because an input
  // failed, marks them failed: every later reader then fails, since their
  // contents are no longer known. See docs/architecture.md, "In-place writes".
  std::vector<StoragePtr> in_place;
  // Runs first (e.g. waiting for another device's queue to produce an input).
  std::function<void()> await;
  // Runs last, whether the task ran, failed or was skipped (e.g. opening a latch).
  std::function<void()> finally;
};

// How an allocation may be made.
struct AllocOptions {
  explicit AllocOptions(bool pinned_memory = false, bool poison_when_on = true) : pinned(pinned_memory), poison(poison_when_on) {}
  bool pinned;  // CPU only: page-locked memory for fast GPU copies
  bool poison;  // fill with 0xFF when poisoning is on (off for buffers written at once)
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

  // On any thread; never waits for queued work. Throws Error(OutOfMemory)
  // when nothing can be had (at once when the request can never fit); the
  // device stays usable. Throws Error(DeviceLost) on a lost device.
  StoragePtr allocate(size_t bytes, AllocOptions options = AllocOptions());

  // Runs `task` of op `op` after everything enqueued before it. When an
  // input carries a failure the task is skipped and its outputs inherit it;
  // when the task throws, its outputs are marked failed. Either way the
  // failure is also kept for the next read or synchronize (take_error).
  // A task whose environment (current_env() at the call) has ended by the
  // time its turn comes is not run; nothing can read its outputs.
  // When a task throws Error(DeviceLost) the device is lost (see lose()).
  void enqueue(const char* op, TaskIO io, Task task);

  // Work that produces no data (reads, markers, latches): its own exceptions
  // are kept for take_error.
  void enqueue(Task task);

  // The first failure of queued work since the last call, cleared by taking it.
  std::optional<Error> take_error();

  // A fatal fault (Error(DeviceLost)) seen by queued work that handles its
  // own errors (reads): loses the device. Other errors are ignored.
  void note_failure(const Error& e);

  // Called by queued work after it waited for the device to finish
  // everything issued (synchronize): no op is in flight any more.
  void note_idle();

  // Why the device is lost, when it is.
  std::optional<Error> lost() const;

  QueueStats queue_stats();

  // Returns cached free memory to the system (host block cache, GPU pool).
  void release_cache() { release_cached(); }

  // Skips every op still queued and waits until each queue is idle: at
  // process exit, so no queue thread calls the CUDA runtime while it is
  // torn down. Work that produces no data (latches, reads) still runs.
  // begin_stop() only marks the queue, so that every device can be marked
  // before any is drained.
  void begin_stop();
  void stop();

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
  virtual void raw_free(void* data, size_t bytes, bool pinned) = 0;  // never throws
  // Frees what can be freed without waiting (caches), before an allocation retry.
  virtual void release_cached() {}
  // The largest request that could ever succeed (device or host memory limit).
  virtual uint64_t capacity() const = 0;
  // Text for an out-of-memory message: where the limit comes from.
  virtual std::string capacity_note() const { return ""; }
  // Whether work issued so far may still be running (CUDA: the stream is
  // busy). Throws Error(DeviceLost) when the device has faulted.
  virtual bool work_outstanding(ExecContext&) { return false; }
  // Set by a queue thread that could not prepare itself (e.g. select its GPU).
  void set_thread_error(const Error& e);
  virtual void add_pool_stats(MemoryStats&) {}
  void* queue_stream_ = nullptr;
  WorkQueue& queue() { return *queue_; }
  void start_queue(std::function<void()> thread_init);

 private:
  DeviceKind kind_;
  int ordinal_;
  std::string id_;
  std::unique_ptr<WorkQueue> queue_;
  void record_error(const Error& e);
  // Marks the device lost after `e` (a fatal fault surfaced while running
  // `op`, or outside any op when null): every op in flight since the device
  // was last idle, and `outputs`, fail with it, naming the span.
  void lose(const Error& e, const char* op, const std::vector<StoragePtr>& outputs);
  mutable std::mutex error_mutex_;
  std::optional<Error> error_;
  std::optional<Error> thread_error_;
  std::optional<Error> lost_;
  // Ops issued since the device was last seen idle (queue thread only), so a
  // fault that surfaces later can be blamed on the span that may have caused it.
  struct InFlight {
    const char* op;
    std::vector<std::weak_ptr<Storage>> outputs;
  };
  std::deque<InFlight> in_flight_;
  // The span is kept to its last MAX_IN_FLIGHT ops; older ones are counted.
  static constexpr size_t MAX_IN_FLIGHT = 256;
  size_t in_flight_dropped_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<uint64_t> live_bytes_{0};
  std::atomic<uint64_t> live_buffers_{0};
  std::atomic<uint64_t> live_tensors_{0};
  std::atomic<bool> poison_{false};
};

}  // namespace moekit
