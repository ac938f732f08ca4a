#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <system_error>
#include <vector>

#include "../common/error.h"

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
  // Starts up to `helpers` threads. A process limit (ulimit -u, a cgroup's
  // pids.max) may refuse some: the pool then runs with those that started,
  // and says so once on stderr.
  explicit Pool(int helpers) {
    std::string refused;
    for (int i = 0; i < helpers; ++i) {
      try {
        std::thread([this] { loop(); }).detach();  // the pool lives as long as the process
        ++started_;
      } catch (const std::system_error& e) {
        refused = e.what();
        break;
      }
    }
    if (started_ < helpers) {
      std::fprintf(stderr, "moekit: the CPU backend started %d of %d threads (%s); running with %d. Lower MOEKIT_CPU_THREADS or raise the process limit.\n",
                   started_ + 1, helpers + 1, refused.c_str(), started_ + 1);
    }
  }

  int helpers() const { return started_; }

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
  int started_ = 0;
};

// MOEKIT_CPU_THREADS: a whole number from 1 to MAX_CPU_THREADS, else an error
// naming the variable (thrown where the CPU device is first used).
int read_thread_count() {
  const char* env = std::getenv("MOEKIT_CPU_THREADS");
  if (env == nullptr || *env == '\0') return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::string text(env);
  const bool digits = text.size() <= 9 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const long n = digits ? std::strtol(text.c_str(), nullptr, 10) : -1;
  if (n < 1 || n > MAX_CPU_THREADS) {
    throw Error(digits ? ErrorCode::OutOfRange : ErrorCode::InvalidArgument,
                "MOEKIT_CPU_THREADS must be a whole number from 1 to " + std::to_string(MAX_CPU_THREADS) + ", got '" + text +
                    "'; unset it to use every core");
  }
  return static_cast<int>(n);
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

int cpu_threads_started() { return pool().helpers() + 1; }

void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int threads = pool().helpers() + 1;
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
