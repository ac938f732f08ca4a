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
  // make a CUDA device current).
  explicit WorkQueue(std::function<void()> thread_init = nullptr);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void push(Task task);

  // Blocks until every task pushed before the call has finished. Only for
  // rare slow paths (an allocation retried after out-of-memory).
  void drain();

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
