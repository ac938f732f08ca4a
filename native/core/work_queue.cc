#include "work_queue.h"

#include <utility>

namespace moekit {

WorkQueue::WorkQueue(std::function<void()> thread_init)
    : thread_([this, init = std::move(thread_init)]() mutable { run(std::move(init)); }) {}

WorkQueue::~WorkQueue() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void WorkQueue::push(Task task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks_.push_back(std::move(task));
    ++pushed_;
  }
  wake_.notify_one();
}

void WorkQueue::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t target = pushed_;
  done_.wait(lock, [&] { return finished_ >= target; });
}

uint64_t WorkQueue::pending() {
  std::lock_guard<std::mutex> lock(mutex_);
  return pushed_ - finished_;
}

void WorkQueue::run(std::function<void()> thread_init) {
  if (thread_init) thread_init();
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping and nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();  // tasks catch their own exceptions (Device::enqueue wraps them)
    task = nullptr;  // release captured buffers before reporting completion
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++finished_;
    }
    done_.notify_all();
  }
}

}  // namespace moekit
