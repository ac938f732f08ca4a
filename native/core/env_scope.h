// Which JS environment (the main thread or a Worker) queued a piece of work.
//
// Devices and their queues are process-wide, but the tensors an environment
// creates can only be read from it. When a Worker ends, work it queued that
// has not started yet can never be read by anyone, so the queue skips it
// instead of spending seconds of CPU or GPU time on it. Each environment
// owns a flag that is true while it lives; the binding makes it the
// calling thread's current flag for the length of each call, and
// Device::enqueue captures it with every task.
#pragma once

#include <atomic>
#include <memory>

namespace moekit {

using EnvAlive = std::shared_ptr<std::atomic<bool>>;

// The flag of the environment whose call is running on this thread; null on
// threads that are not running a binding call (queue threads, helpers).
const EnvAlive& current_env();

// Makes `env` the current flag until the scope ends (scopes nest: a binding
// function that calls back into JS restores the outer one).
class EnvScope {
 public:
  explicit EnvScope(const EnvAlive& env);
  ~EnvScope();
  EnvScope(const EnvScope&) = delete;
  EnvScope& operator=(const EnvScope&) = delete;

 private:
  EnvAlive previous_;
};

// Whether work captured with `env` may still be wanted: always for work
// queued outside any environment.
inline bool env_alive(const EnvAlive& env) { return !env || env->load(std::memory_order_acquire); }

}  // namespace moekit
