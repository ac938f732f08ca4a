#include "device.h"

#include <cstring>
#include <utility>

namespace moekit {

Storage::~Storage() { device_->release(*this); }

void Storage::fail(const Error& error) {
  std::lock_guard<std::mutex> lock(failure_mutex_);
  if (!failure_) failure_ = error;
}

std::optional<Error> Storage::failure() const {
  std::lock_guard<std::mutex> lock(failure_mutex_);
  return failure_;
}

Device::Device(DeviceKind kind, int ordinal)
    : kind_(kind), ordinal_(ordinal), id_(kind == DeviceKind::Cpu ? std::string("cpu") : "cuda:" + std::to_string(ordinal)) {}

void Device::start_queue(std::function<void()> thread_init) { queue_ = std::make_unique<WorkQueue>(std::move(thread_init)); }

StoragePtr Device::allocate(size_t bytes, AllocOptions options) {
  void* data = nullptr;
  if (bytes > 0) {
    data = raw_allocate(bytes, options.pinned);
    if (!data) {
      // Cached blocks, then frees still waiting in the queue, may be what stands in the way.
      release_cached();
      if (options.may_drain) retry_after_out_of_memory();
      data = raw_allocate(bytes, options.pinned);
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
  auto storage = std::make_shared<Storage>(this, data, bytes, options.pinned);
  if (poison_ && options.poison && bytes > 0) {
    enqueue([storage](ExecContext& ctx) { ctx.device.fill_bytes(ctx, storage->data(), 0xFF, storage->bytes()); });
  }
  return storage;
}

void Device::release(Storage& storage) {
  if (storage.data()) raw_free(storage.data(), storage.bytes(), storage.pinned());
  live_bytes_.fetch_sub(storage.bytes());
  live_buffers_.fetch_sub(1);
}

void Device::record_error(const Error& e) {
  std::lock_guard<std::mutex> lock(error_mutex_);
  if (!error_) error_ = e;
}

void Device::set_thread_error(const Error& e) {
  std::lock_guard<std::mutex> lock(error_mutex_);
  thread_error_ = e;
}

namespace {

// The exception in flight as an Error, its message prefixed with `what_failed`.
Error current_error(const std::string& what_failed) {
  try {
    throw;
  } catch (const Error& e) {
    return Error(e.code(), what_failed + e.what());
  } catch (const std::bad_alloc&) {
    return Error(ErrorCode::OutOfMemory, what_failed + "out of host memory");
  } catch (const std::exception& e) {
    return Error(ErrorCode::Kernel, what_failed + e.what());
  } catch (...) {
    return Error(ErrorCode::Kernel, what_failed + "unknown exception");
  }
}

}  // namespace

void Device::enqueue(const char* op, TaskIO io, Task task) {
  queue_->push([this, op, io = std::move(io), task = std::move(task)]() {
    ExecContext ctx{*this, queue_stream_};
    const std::string prefix = id_ + ": " + op + " failed: ";
    try {
      if (io.await) io.await();
      std::optional<Error> failed_input;
      for (const auto& in : io.inputs) {
        if (!failed_input && in) failed_input = in->failure();
      }
      if (failed_input) {
        const Error e(failed_input->code(), id_ + ": " + op + " was not run because its input had failed (" + failed_input->what() + ")");
        for (const auto& out : io.outputs) out->fail(e);
      } else {
        {
          std::lock_guard<std::mutex> lock(error_mutex_);
          if (thread_error_) throw *thread_error_;
        }
        task(ctx);
      }
    } catch (...) {
      const Error e = current_error(prefix);
      for (const auto& out : io.outputs) out->fail(e);
      record_error(e);
    }
    if (io.finally) {
      try {
        io.finally();
      } catch (...) {
        record_error(current_error(prefix));
      }
    }
  });
}

void Device::enqueue(Task task) {
  queue_->push([this, task = std::move(task)]() {
    ExecContext ctx{*this, queue_stream_};
    try {
      task(ctx);
    } catch (...) {
      record_error(current_error(id_ + ": queued work failed: "));
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
