// parallel_for over the machine's cores for the CPU backend. The calling
// thread (a device's queue thread) takes part; helpers join in. Several
// callers may run parallel_for at once (the CPU queue and a CUDA queue
// converting host data).
#pragma once

#include <cstdint>
#include <functional>

namespace moekit {

// The most threads MOEKIT_CPU_THREADS may ask for.
constexpr int MAX_CPU_THREADS = 256;

// Threads asked for: MOEKIT_CPU_THREADS (1 to MAX_CPU_THREADS), else one per
// core. Throws moekit::Error naming the variable when it is not such a number.
int cpu_thread_count();

// Threads parallel_for actually uses (the helpers that could be started,
// plus the caller). Starts the helpers on first call.
int cpu_threads_started();

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks hold at
// least `min_chunk` items, so small loops stay on the calling thread. The
// first exception thrown by fn is rethrown to the caller after all chunks end.
void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace moekit
