#include "device.h"

#include <cstring>
#include <utility>

namespace moekit {

Storage::~Storage() { device_->release(*this); }

Device::Device(DeviceKind kind, int ordinal)
    : kind_(kind), ordinal_(ordinal), id_(kind == DeviceKind::Cpu ? std::string("cpu") : "cuda:" + std::to_string(ordinal)) {}

void Device::start_queue(std::function<void()> thread_init) { queue_ = std::make_unique<WorkQueue>(std::move(thread_init)); }

std::shared_ptr<Storage> Device::allocate(size_t bytes, bool pinned, bool staging) {
  void* data = nullptr;
  if (bytes > 0) {
    data = raw_allocate(bytes, pinned);
    if (!data && !staging) {
      // Frees still waiting in the queue may be what stands in the way.
      retry_after_out_of_memory();
      data = raw_allocate(bytes, pinned);
    }
    if (!data) {
      MemoryStats m = memory();
      std::string message = id_ + ": out of memory allocating " + std::to_string(bytes) + " bytes (" +
                            std::to_string(m.bytes) + " bytes in " + std::to_string(m.buffers) + " live buffers";
      if (m.device_total) message += ", " + std::to_string(m.device_free) + " of " + std::to_string(m.device_total) + " bytes free on the device";
      message += "); dispose tensors you no longer need";
      throw Error(ErrorCode::OutOfMemory, message);
    }
  }
  live_bytes_.fetch_add(bytes);
  live_buffers_.fetch_add(1);
  auto storage = std::make_shared<Storage>(this, data, bytes, pinned);
  if (poison_ && bytes > 0 && !staging) {
    enqueue([storage](ExecContext& ctx) { ctx.device.fill_bytes(ctx, storage->data(), 0xFF, storage->bytes()); });
  }
  return storage;
}

void Device::release(Storage& storage) {
  if (storage.data()) raw_free(storage.data(), storage.bytes(), storage.pinned());
  live_bytes_.fetch_sub(storage.bytes());
  live_buffers_.fetch_sub(1);
}

void Device::enqueue(Task task) {
  queue_->push([this, task = std::move(task)]() {
    ExecContext ctx{*this, queue_stream_};
    try {
      task(ctx);
    } catch (const Error& e) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = e;
    } catch (const std::bad_alloc&) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = Error(ErrorCode::OutOfMemory, id_ + ": out of host memory in queued work");
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = Error(ErrorCode::Kernel, id_ + ": queued work failed: " + e.what());
    }
  });
}

std::optional<Error> Device::take_error() {
  std::lock_guard<std::mutex> lock(error_mutex_);
  std::optional<Error> e = std::move(error_);
  error_.reset();
  return e;
}

MemoryStats Device::memory() {
  MemoryStats m;
  m.bytes = live_bytes_.load();
  m.buffers = live_buffers_.load();
  m.tensors = live_tensors_.load();
  add_pool_stats(m);
  return m;
}

}  // namespace moekit
