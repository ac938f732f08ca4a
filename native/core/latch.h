// A one-shot gate: opened by one device queue, awaited by another, to order
// work across devices (a copy waits until its source has been produced).
#pragma once

#include <condition_variable>
#include <mutex>

namespace moekit {

class Latch {
 public:
  void open() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace moekit
