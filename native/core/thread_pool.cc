#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace moekit {

namespace {

struct Job {
  const std::function<void(int64_t, int64_t)>* fn;
  int64_t n;
  int64_t chunk;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> chunks_left{0};
  std::mutex mutex;
  std::condition_variable finished;
  std::exception_ptr error;

  // Takes and runs chunks until none are left. Returns when this thread ran out.
  void work() {
    for (;;) {
      const int64_t begin = next.fetch_add(chunk);
      if (begin >= n) return;
      const int64_t end = std::min(n, begin + chunk);
      try {
        (*fn)(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
      }
      if (chunks_left.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(mutex);
        finished.notify_all();
      }
    }
  }
};

class Pool {
 public:
  explicit Pool(int helpers) {
    for (int i = 0; i < helpers; ++i) threads_.emplace_back([this] { loop(); });
    for (auto& t : threads_) t.detach();  // the pool lives as long as the process
  }

  void offer(const std::shared_ptr<Job>& job, int copies) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int i = 0; i < copies; ++i) jobs_.push_back(job);
    }
    wake_.notify_all();
  }

 private:
  void loop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return !jobs_.empty(); });
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job->work();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> jobs_;
  std::vector<std::thread> threads_;
};

int read_thread_count() {
  if (const char* env = std::getenv("MOEKIT_CPU_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return std::min(n, 1024);
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Pool& pool() {
  // Never destroyed: helper threads may still be parked at exit.
  static Pool* p = new Pool(cpu_thread_count() - 1);
  return *p;
}

}  // namespace

int cpu_thread_count() {
  static const int n = read_thread_count();
  return n;
}

void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int threads = cpu_thread_count();
  min_chunk = std::max<int64_t>(1, min_chunk);
  if (threads == 1 || n <= min_chunk) {
    fn(0, n);
    return;
  }
  // A few chunks per thread balance uneven work without much overhead.
  const int64_t chunk = std::max(min_chunk, (n + threads * 4 - 1) / (threads * 4));
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  job->chunk = chunk;
  const int64_t chunks = (n + chunk - 1) / chunk;
  job->chunks_left = chunks;
  pool().offer(job, static_cast<int>(std::min<int64_t>(threads - 1, chunks - 1)));
  job->work();
  {
    std::unique_lock<std::mutex> lock(job->mutex);
    job->finished.wait(lock, [&] { return job->chunks_left.load() == 0; });
  }
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace moekit
