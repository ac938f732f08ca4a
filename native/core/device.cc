#include "device.h"

#include <algorithm>
#include <cstring>
#include <system_error>
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

void Device::start_queue(std::function<void()> thread_init) {
  try {
    queue_ = std::make_unique<WorkQueue>(std::move(thread_init));
  } catch (const std::system_error& e) {
    throw Error(ErrorCode::Unsupported, id_ + ": could not start the device's queue thread (" + e.what() +
                                            "); raise the process's thread limit (ulimit -u, the container's pids limit)");
  }
}

StoragePtr Device::allocate(size_t bytes, AllocOptions options) {
  if (auto lost = this->lost()) throw *lost;
  void* data = nullptr;
  if (bytes > 0) {
    // A request that can never fit fails at once, without touching caches.
    if (bytes <= capacity()) {
      data = raw_allocate(bytes, options.pinned);
      if (!data) {
        // Cached blocks may be what stands in the way. Memory that queued
        // work still holds is not waited for: that would block the caller.
        release_cached();
        data = raw_allocate(bytes, options.pinned);
      }
    }
    if (!data) {
      const MemoryStats m = memory();
      std::string message = id_ + ": out of memory allocating " + std::to_string(bytes) + " bytes (" + std::to_string(m.bytes) +
                            " bytes in " + std::to_string(m.buffers) + " live buffers";
      if (m.device_total) message += ", " + std::to_string(m.device_free) + " of " + std::to_string(m.device_total) + " bytes free on the device";
      const std::string note = capacity_note();
      if (!note.empty()) message += "; " + note;
      message += ")";
      if (bytes > capacity()) {
        message += "; the request can never fit on this device";
      } else {
        message += "; dispose tensors you no longer need";
        if (queue_ && queue_->pending() > 0) message += ", or await synchronize() so that queued work releases what it holds, then retry";
      }
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

std::optional<Error> Device::lost() const {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return lost_;
}

void Device::lose(const Error& e, const char* op, const std::vector<StoragePtr>& outputs) {
  // The ops that may have faulted: those in flight, plus `op` when it is not
  // the last of them. Names listed once each, in order.
  std::vector<std::string> names;
  size_t count = in_flight_dropped_;
  auto add = [&](const char* name) {
    if (name == nullptr) return;
    ++count;
    if (std::find(names.begin(), names.end(), name) == names.end()) names.emplace_back(name);
  };
  for (const auto& f : in_flight_) add(f.op);
  add(op);
  std::string ops;
  for (const auto& n : names) ops += (ops.empty() ? "" : ", ") + n;
  std::string blame;
  if (count == 0) {
    blame = "a fatal fault";
  } else if (count == 1) {
    blame = "a fatal fault in " + ops;
  } else {
    blame = "a fatal fault in one of the " + std::to_string(count) + " ops in flight (" + ops +
            "; the GPU reports faults late, so which one is not known)";
  }
  const Error lost(ErrorCode::DeviceLost, id_ + ": " + blame + ": " + e.what() + ". The device is lost: every later op on " + id_ +
                                              " fails; restart the process to use it again");
  for (const auto& f : in_flight_) {
    for (const auto& w : f.outputs) {
      if (auto s = w.lock()) s->fail(lost);
    }
  }
  in_flight_.clear();
  in_flight_dropped_ = 0;
  for (const auto& out : outputs) out->fail(lost);
  std::lock_guard<std::mutex> lock(error_mutex_);
  if (!lost_) lost_ = lost;
  if (!error_) error_ = lost;
}

void Device::note_idle() {
  in_flight_.clear();
  in_flight_dropped_ = 0;
}

void Device::note_failure(const Error& e) {
  if (e.code() == ErrorCode::DeviceLost) lose(e, nullptr, {});
}

namespace {

// Marks everything a task writes (its outputs and in-place buffers) failed.
void fail_written(const TaskIO& io, const Error& e) {
  for (const auto& out : io.outputs) out->fail(e);
  for (const auto& buffer : io.in_place) buffer->fail(e);
}

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
  queue_->push([this, op, env = current_env(), io = std::move(io), task = std::move(task)]() {
    ExecContext ctx{*this, queue_stream_};
    const std::string prefix = id_ + ": " + op + " failed: ";
    bool in_span = false;  // whether this op is in in_flight_ yet
    try {
      if (io.await) io.await();
      std::optional<Error> failed_input;
      for (const auto* group : {&io.inputs, &io.in_place}) {
        for (const auto& in : *group) {
          if (!failed_input && in) failed_input = in->failure();
        }
      }
      if (!env_alive(env) || stopping_.load()) {
        // Nobody can read what it would produce (its environment ended, or
        // the process is exiting).
        skipped_.fetch_add(1);
        fail_written(io, Error(ErrorCode::Kernel, id_ + ": " + op + " was not run because the environment that queued it has ended"));
      } else if (auto lost = this->lost()) {
        fail_written(io, *lost);
      } else if (failed_input) {
        fail_written(io, Error(failed_input->code(),
                               id_ + ": " + op + " was not run because its input had failed (" + failed_input->what() + ")"));
      } else {
        {
          std::lock_guard<std::mutex> lock(error_mutex_);
          if (thread_error_) throw *thread_error_;
        }
        // What may still run on the device before this op: nothing, when it
        // is idle now. Looked at before the launch, since the op's own work
        // keeps the device busy right after it.
        if (!work_outstanding(ctx)) in_flight_.clear();
        InFlight f{op, {}};
        for (const auto& out : io.outputs) f.outputs.push_back(out);
        for (const auto& out : io.in_place) f.outputs.push_back(out);
        if (in_flight_.size() >= MAX_IN_FLIGHT) {
          in_flight_.pop_front();
          ++in_flight_dropped_;
        }
        in_flight_.push_back(std::move(f));
        in_span = true;
        task(ctx);
      }
    } catch (...) {
      const Error e = current_error(prefix);
      if (e.code() == ErrorCode::DeviceLost) {
        std::vector<StoragePtr> written = io.outputs;
        written.insert(written.end(), io.in_place.begin(), io.in_place.end());
        lose(e, in_span ? nullptr : op, written);
      } else {
        fail_written(io, e);
        record_error(e);
      }
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
      const Error e = current_error(id_ + ": queued work failed: ");
      if (e.code() == ErrorCode::DeviceLost) {
        lose(e, nullptr, {});
      } else {
        record_error(e);
      }
    }
  });
}

std::optional<Error> Device::take_error() {
  std::lock_guard<std::mutex> lock(error_mutex_);
  std::optional<Error> e = std::move(error_);
  error_.reset();
  return e;
}

QueueStats Device::queue_stats() {
  QueueStats s;
  s.pending = queue_ ? queue_->pending() : 0;
  s.skipped = skipped_.load();
  return s;
}

void Device::begin_stop() { stopping_.store(true); }

void Device::stop() {
  begin_stop();
  if (queue_) queue_->drain();
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
