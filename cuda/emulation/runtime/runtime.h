// The emulated CUDA runtime's shared state, for its own files: the process
// setup (device count, memory per device, strict mode), the per-thread
// current device, errors (the thread's last error, a device's sticky fault)
// and teardown at exit. The runtime API itself (the extern "C" cuda*
// functions) is defined by devices.cc, errors.cc, streams.cc, memory_api.cc,
// launch.cc and driver.cc, with the signatures of cuda_runtime_api.h.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace moekit {
namespace emu {
namespace rt {

constexpr int MAX_DEVICES = 8;

// ---- the process's configuration (read once from the environment) ----------
// MOEKIT_EMU_DEVICES: how many GPUs (1..8, default 1).
int device_count();
bool valid_device(int device);
// Bytes of device memory per GPU: the profile's, or MOEKIT_EMU_DEVICE_MEMORY
// (bytes, with an optional K, M, G or T suffix).
size_t device_memory_capacity();
// MOEKIT_EMU_STRICT_DEVICE=1: a call on a thread with no current device fails.
bool strict_device();

// ---- entering the runtime -------------------------------------------------------
// Every API function but the error queries starts with enter(): the first
// call installs the teardown at exit; after teardown every call fails with
// cudaErrorCudartUnloading. Returns cudaSuccess or that error (already
// recorded as the thread's last error).
cudaError_t enter();
bool unloading();

// Records `err` as the thread's last error (not cudaSuccess, not
// cudaErrorNotReady, which is a status rather than an error) and returns it.
cudaError_t record(cudaError_t err);

// ---- the current device ---------------------------------------------------------
// The thread's selected device, or -1 when it never selected one (or put
// back "no context" with cuCtxSetCurrent(NULL)).
int selected_device();
void select_device(int device);  // -1: none
// The device a call that needs a context runs against: the selected one,
// else device 0, reported once per thread on stderr and counted (or, in
// strict mode, cudaErrorInvalidDevice). `call` names the API function.
cudaError_t context_device(const char* call, int* device);

// How many calls needed a context on a thread with no current device
// (exported, for tests of the addon: it should stay 0).
extern "C" unsigned long moekit_emu_implicit_device_uses();

// ---- sticky faults -------------------------------------------------------------------
// cudaSuccess, or the code of the fault that made `device` unusable.
cudaError_t sticky_error(int device);
// Makes `device` unusable with `code` (a cudaError_t); the first fault wins
// and its report is printed on stderr once.
void fault_device(int device, int code, const std::string& report);
// The message cudaGetErrorString gives for a device's sticky code: the
// standard text, ": ", the fault's report. Null when no device faulted with it.
const char* fault_message(int code);

// The standard text of an error code (errors.cc).
const char* standard_error_string(cudaError_t err);
const char* standard_error_name(cudaError_t err);

// ---- streams (streams.cc), used by memory_api.cc and launch.cc ---------------------
struct Stream;
// Resolves a cudaStream_t: 0 and cudaStreamLegacy give the legacy default
// stream of `current_device`, cudaStreamPerThread the calling thread's
// default stream there. cudaErrorInvalidResourceHandle for an unknown or
// destroyed stream (not recorded: the caller records what it returns).
cudaError_t resolve_stream(cudaStream_t stream, int current_device, Stream** out);
int stream_device(const Stream* stream);

// Work for a stream's worker, run when the stream reaches it.
struct Work {
  const char* what = "";        // for reports
  bool touches_memory = false;  // reads or writes device memory: freed ranges stay mapped while it runs
  bool always_run = false;      // runs even after the device faulted (host bookkeeping: a free)
  std::function<void()> run;
};
// Queues `work` on the stream after everything queued on it before (and,
// between the legacy default stream and blocking streams, after what the
// implicit ordering of the two asks for).
// False when nothing was queued: the runtime is being torn down, or the
// stream was destroyed meanwhile; not_queued_error() says which.
bool enqueue(Stream* stream, Work work);
cudaError_t not_queued_error();
// Waits for everything queued so far on every stream of `device` (of every
// device when -1). False when teardown cut the wait short.
bool synchronize_streams(int device);
// At exit: workers stop once what they are running has finished; queued
// work is dropped.
void teardown_streams();

// ---- device memory (engine/memory.cc) ---------------------------------------------
// Brackets work that touches device memory: ranges freed meanwhile are
// taken out of the live allocations at once (later accesses are reported)
// but stay mapped until every such bracket open at the free has closed, so
// a racing access is reported rather than a segmentation fault.
uint64_t arena_access_begin();
void arena_access_end(uint64_t token);

// ---- memory pools (memory_api.cc) ---------------------------------------------------
// At a synchronisation of `device`: pools give back what they hold beyond
// their release threshold.
void pools_after_synchronize(int device);

}  // namespace rt
}  // namespace emu
}  // namespace moekit

