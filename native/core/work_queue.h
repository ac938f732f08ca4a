// An in-order queue of tasks run by one thread of its own: each device's
// "stream". Ops enqueue work and return at once; the JS thread never waits.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace moekit {

class WorkQueue {
 public:
  using Task = std::function<void()>;

  // `thread_init` runs once on the worker thread before any task (e.g. to
  // make a CUDA device current). Throws std::system_error when the thread
  // cannot be started (a process limit).
  explicit WorkQueue(std::function<void()> thread_init = nullptr);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void push(Task task);

  // Blocks until every task pushed before the call has finished. Never on
  // a JS thread: only at process exit (Device::stop).
  void drain();

  // Tasks pushed and not yet finished.
  uint64_t pending();

 private:
  void run(std::function<void()> thread_init);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<Task> tasks_;
  uint64_t pushed_ = 0;
  uint64_t finished_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace moekit
