// LD_PRELOAD shim for tests: makes std::thread creation fail the way a
// process limit (ulimit -u, a cgroup's pids.max) does, after the first
// MOEKIT_SHIM_STD_THREADS threads. Only threads started through std::thread
// (whose start routine lives in libstdc++) count: Node's own threads
// (libuv, V8's platform) start normally, so the process still runs.
#include <dlfcn.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

using CreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

std::atomic<int> started{0};

bool from_std_thread(void* (*start)(void*)) {
  Dl_info info;
  void* address = reinterpret_cast<void*>(start);
  return dladdr(address, &info) != 0 && info.dli_fname != nullptr && std::strstr(info.dli_fname, "libstdc++") != nullptr;
}

}  // namespace

extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
  static const CreateFn real = reinterpret_cast<CreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  if (from_std_thread(start)) {
    const char* allowed = std::getenv("MOEKIT_SHIM_STD_THREADS");
    if (allowed != nullptr && started.fetch_add(1) >= std::atoi(allowed)) return EAGAIN;
  }
  return real(thread, attr, start, arg);
}
