// Streams and events.
//
// - Every stream, the legacy default stream of each device included, has
//   a worker thread of its own that runs the stream's work in order,
//   asynchronously from the threads that queue it: kernels (run_grid),
//   copies and memsets (which read their source when their turn comes, not
//   when they are queued), frees, event records and waits.
// - The legacy default stream (0, cudaStreamLegacy) is ordered with the
//   device's blocking streams (cudaStreamDefault) as in CUDA: its work waits
//   for what they had queued, and theirs for what it had queued.
//   Non-blocking streams are ordered with nothing but their own work.
//   cudaStreamPerThread is the calling thread's own blocking stream.
// - An event record is a marker in its stream's order; it completes, with
//   the host clock's time, when the worker reaches it. cudaStreamWaitEvent
//   makes the stream's later work wait for the most recent record of the
//   event at the time of the call (none: no wait). cudaEventElapsedTime
//   gives the time between two completed records.
// - cudaStreamQuery is cudaErrorNotReady while work is queued or running.
//   cudaStreamSynchronize, cudaEventSynchronize and cudaDeviceSynchronize
//   wait, then return the device's sticky error, if any.
// - After a device faulted its streams run no more work but host
//   bookkeeping (frees, event records): every call on it returns the fault.
// - Workers are started with pthread_create, not std::thread, like the CUDA
//   runtime's own threads.
// - At exit (the runtime's teardown, devices.cc) every queue is dropped and
//   the workers stop once what they are running has finished; from then on
//   every call returns cudaErrorCudartUnloading.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <utility>
#include <vector>

#include "runtime.h"

namespace moekit {
namespace emu {
namespace rt {

namespace streams_detail {

using Dependency = std::pair<Stream*, uint64_t>;  // (stream, sequence number it must have completed)

struct Item {
  uint64_t seq = 0;
  Work work;
  std::vector<Dependency> deps;
};

}  // namespace streams_detail

struct Stream {
  int device = 0;
  unsigned flags = 0;
  bool legacy = false;

  std::mutex mutex;
  std::condition_variable wake;  // the worker: work arrived, destroyed, stopped
  std::condition_variable done;  // waiters: `completed` moved, stopped, idle
  std::deque<streams_detail::Item> queue;
  uint64_t enqueued = 0;   // sequence number of the last item queued
  uint64_t completed = 0;  // sequence number of the last item finished
  bool running = false;    // the worker is running an item
  bool destroyed = false;  // cudaStreamDestroy: the worker ends once the queue is empty
  bool stopped = false;    // teardown: nothing runs any more
  bool exited = false;     // the worker has ended
  pthread_t thread{};

  // Blocking: ordered with the legacy default stream.
  bool blocking() const { return !legacy && (flags & cudaStreamNonBlocking) == 0; }
};

namespace streams_detail {

struct Registry {
  std::mutex mutex;
  std::unordered_set<Stream*> live;  // created with cudaStreamCreate*, not destroyed
  std::vector<Stream*> all;          // every stream ever made (never freed: markers keep pointing at them)
  Stream* legacy[MAX_DEVICES] = {};
};

Registry& registry() {
  static auto* r = new Registry();
  return *r;
}

thread_local Stream* per_thread_streams[MAX_DEVICES] = {};
thread_local Stream* worker_of_this_thread = nullptr;

// Waits until `stream` has completed item `seq`. False when teardown cut it short.
bool wait_for(Stream* stream, uint64_t seq) {
  std::unique_lock<std::mutex> lock(stream->mutex);
  stream->done.wait(lock, [&] { return stream->completed >= seq || stream->stopped; });
  return stream->completed >= seq;
}

void execute(Stream& s, Item& item) {
  for (const Dependency& d : item.deps) {
    if (!wait_for(d.first, d.second)) return;
  }
  if (unloading()) return;
  if (!item.work.always_run && sticky_error(s.device) != cudaSuccess) return;
  if (!item.work.run) return;
  if (item.work.touches_memory) {
    const uint64_t token = arena_access_begin();
    item.work.run();
    arena_access_end(token);
  } else {
    item.work.run();
  }
}

void* worker_main(void* arg) {
  auto* s = static_cast<Stream*>(arg);
  worker_of_this_thread = s;
  std::unique_lock<std::mutex> lock(s->mutex);
  for (;;) {
    s->wake.wait(lock, [&] { return !s->queue.empty() || s->stopped || s->destroyed; });
    if (s->stopped || s->queue.empty()) break;  // teardown, or destroyed with nothing left
    Item item = std::move(s->queue.front());
    s->queue.pop_front();
    s->running = true;
    lock.unlock();
    execute(*s, item);
    const uint64_t seq = item.seq;
    item = Item();  // releases what the work held, outside the lock
    lock.lock();
    s->running = false;
    s->completed = std::max(s->completed, seq);
    s->done.notify_all();
  }
  s->exited = true;
  s->done.notify_all();
  return nullptr;
}

// A stream with a running worker, or null when the thread could not start.
Stream* make_stream(int device, unsigned flags, bool legacy) {
  auto* s = new Stream();
  s->device = device;
  s->flags = flags;
  s->legacy = legacy;
  if (pthread_create(&s->thread, nullptr, worker_main, s) != 0) {
    delete s;
    return nullptr;
  }
  pthread_detach(s->thread);
  char name[16];
  std::snprintf(name, sizeof name, "emu-stream%d", device);
  (void)pthread_setname_np(s->thread, name);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.all.push_back(s);
  return s;
}

// What `s` must wait for besides its own earlier work: the legacy default
// stream waits for the device's blocking streams, and they wait for it.
std::vector<Dependency> implicit_dependencies(Stream* s) {
  std::vector<Dependency> deps;
  if (!s->legacy && !s->blocking()) return deps;
  std::vector<Stream*> others;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (s->legacy) {
      for (Stream* o : r.all) {
        if (o != s && o->device == s->device && o->blocking()) others.push_back(o);
      }
    } else if (Stream* legacy = r.legacy[s->device]) {
      others.push_back(legacy);
    }
  }
  for (Stream* o : others) {
    std::lock_guard<std::mutex> lock(o->mutex);
    if (o->completed < o->enqueued && !o->stopped) deps.emplace_back(o, o->enqueued);
  }
  return deps;
}

// Queues `work`; the sequence number it got, 0 when nothing was queued (teardown).
uint64_t push(Stream* s, Work work, std::vector<Dependency> deps) {
  std::vector<Dependency> implicit = implicit_dependencies(s);
  deps.insert(deps.end(), implicit.begin(), implicit.end());
  std::lock_guard<std::mutex> lock(s->mutex);
  if (s->stopped || s->destroyed || unloading()) return 0;
  Item item;
  item.seq = ++s->enqueued;
  item.work = std::move(work);
  item.deps = std::move(deps);
  s->queue.push_back(std::move(item));
  s->wake.notify_one();
  return s->enqueued;
}

// The streams whose work a synchronisation of `s` waits for, with the
// sequence numbers queued so far: `s` itself, and for the legacy default
// stream the device's blocking streams too.
std::vector<Dependency> synchronisation_targets(Stream* s) {
  std::vector<Dependency> targets;
  std::vector<Stream*> streams{s};
  if (s->legacy) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (Stream* o : r.all) {
      if (o != s && o->device == s->device && o->blocking()) streams.push_back(o);
    }
  }
  for (Stream* o : streams) {
    std::lock_guard<std::mutex> lock(o->mutex);
    targets.emplace_back(o, o->enqueued);
  }
  return targets;
}

bool wait_all(const std::vector<Dependency>& targets) {
  for (const Dependency& t : targets) {
    if (!wait_for(t.first, t.second)) return false;
  }
  return true;
}

// ---- events ------------------------------------------------------------------------
struct Record {
  Stream* stream = nullptr;
  uint64_t seq = 0;
  std::atomic<bool> done{false};
  std::atomic<int64_t> when_ns{0};  // steady clock, when the worker reached it
};

struct Event {
  int device = 0;
  unsigned flags = 0;
  std::mutex mutex;
  std::shared_ptr<Record> last;  // the most recent record; null before the first
};

struct Events {
  std::mutex mutex;
  std::unordered_set<Event*> live;
};

Events& events() {
  static auto* e = new Events();
  return *e;
}

// The live event behind a handle, or null.
Event* find_event(cudaEvent_t handle) {
  auto* e = reinterpret_cast<Event*>(handle);
  Events& all = events();
  std::lock_guard<std::mutex> lock(all.mutex);
  return all.live.count(e) ? e : nullptr;
}

std::shared_ptr<Record> last_record(Event* e) {
  std::lock_guard<std::mutex> lock(e->mutex);
  return e->last;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace streams_detail

cudaError_t resolve_stream(cudaStream_t handle, int current_device, Stream** out) {
  using namespace streams_detail;
  Registry& r = registry();
  if (handle == nullptr || handle == cudaStreamLegacy) {
    if (!valid_device(current_device)) return cudaErrorInvalidDevice;
    {
      std::lock_guard<std::mutex> lock(r.mutex);
      if (Stream* s = r.legacy[current_device]) {
        *out = s;
        return cudaSuccess;
      }
    }
    Stream* made = make_stream(current_device, cudaStreamDefault, true);
    if (!made) return cudaErrorMemoryAllocation;
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!r.legacy[current_device]) r.legacy[current_device] = made;  // else another thread made it first: `made` stays idle
    *out = r.legacy[current_device];
    return cudaSuccess;
  }
  if (handle == cudaStreamPerThread) {
    if (!valid_device(current_device)) return cudaErrorInvalidDevice;
    Stream*& mine = per_thread_streams[current_device];
    if (!mine) mine = make_stream(current_device, cudaStreamDefault, false);
    if (!mine) return cudaErrorMemoryAllocation;
    *out = mine;
    return cudaSuccess;
  }
  auto* s = reinterpret_cast<Stream*>(handle);
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.live.count(s)) return cudaErrorInvalidResourceHandle;
  *out = s;
  return cudaSuccess;
}

int stream_device(const Stream* stream) { return stream->device; }

bool enqueue(Stream* stream, Work work) { return streams_detail::push(stream, std::move(work), {}) != 0; }

cudaError_t not_queued_error() { return unloading() ? cudaErrorCudartUnloading : cudaErrorInvalidResourceHandle; }

bool synchronize_streams(int device) {
  using namespace streams_detail;
  std::vector<Dependency> targets;
  std::vector<Stream*> streams;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (Stream* s : r.all) {
      if (device < 0 || s->device == device) streams.push_back(s);
    }
  }
  for (Stream* s : streams) {
    std::lock_guard<std::mutex> lock(s->mutex);
    targets.emplace_back(s, s->enqueued);
  }
  return wait_all(targets);
}

void teardown_streams() {
  using namespace streams_detail;
  std::vector<Stream*> streams;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    streams = r.all;
  }
  // Drop every queue first, so that no worker waits for another's marker.
  for (Stream* s : streams) {
    std::deque<Item> dropped;
    {
      std::lock_guard<std::mutex> lock(s->mutex);
      s->stopped = true;
      dropped.swap(s->queue);
      s->wake.notify_all();
      s->done.notify_all();
    }
  }
  // Then let what is running finish.
  for (Stream* s : streams) {
    if (s == worker_of_this_thread) continue;
    std::unique_lock<std::mutex> lock(s->mutex);
    s->done.wait(lock, [&] { return !s->running; });
  }
}

}  // namespace rt
}  // namespace emu
}  // namespace moekit

using namespace moekit::emu;
using rt::streams_detail::Event;
using rt::streams_detail::Record;

extern "C" {

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* pStream, unsigned int flags) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaStreamCreateWithFlags", &device)) return e;
  if (!pStream || (flags & ~static_cast<unsigned>(cudaStreamNonBlocking)) != 0) return rt::record(cudaErrorInvalidValue);
  if (cudaError_t e = rt::sticky_error(device)) return rt::record(e);
  rt::Stream* s = rt::streams_detail::make_stream(device, flags, false);
  if (!s) return rt::record(cudaErrorMemoryAllocation);
  {
    rt::streams_detail::Registry& r = rt::streams_detail::registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.live.insert(s);
  }
  *pStream = reinterpret_cast<cudaStream_t>(s);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* pStream) {
  if (cudaError_t e = rt::enter()) return e;
  return cudaStreamCreateWithFlags(pStream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaStreamDestroy", &device)) return e;
  if (stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread) {
    return rt::record(cudaErrorInvalidResourceHandle);
  }
  auto* s = reinterpret_cast<rt::Stream*>(stream);
  {
    rt::streams_detail::Registry& r = rt::streams_detail::registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!r.live.erase(s)) return rt::record(cudaErrorInvalidResourceHandle);
  }
  {
    // Work already queued still runs; the worker ends after it.
    std::lock_guard<std::mutex> lock(s->mutex);
    s->destroyed = true;
    s->wake.notify_all();
  }
  return rt::record(rt::sticky_error(s->device));
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaStreamQuery", &device)) return e;
  rt::Stream* s = nullptr;
  if (cudaError_t e = rt::resolve_stream(stream, device, &s)) return rt::record(e);
  if (cudaError_t e = rt::sticky_error(s->device)) return rt::record(e);
  for (const auto& target : rt::streams_detail::synchronisation_targets(s)) {
    std::lock_guard<std::mutex> lock(target.first->mutex);
    if (target.first->completed < target.second && !target.first->stopped) return cudaErrorNotReady;
  }
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaStreamSynchronize", &device)) return e;
  rt::Stream* s = nullptr;
  if (cudaError_t e = rt::resolve_stream(stream, device, &s)) return rt::record(e);
  if (cudaError_t e = rt::sticky_error(s->device)) return rt::record(e);
  if (!rt::streams_detail::wait_all(rt::streams_detail::synchronisation_targets(s))) return rt::record(cudaErrorCudartUnloading);
  rt::pools_after_synchronize(s->device);
  return rt::record(rt::sticky_error(s->device));
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaStreamWaitEvent", &device)) return e;
  if ((flags & ~static_cast<unsigned>(cudaEventWaitExternal)) != 0) return rt::record(cudaErrorInvalidValue);
  rt::Stream* s = nullptr;
  if (cudaError_t e = rt::resolve_stream(stream, device, &s)) return rt::record(e);
  Event* ev = rt::streams_detail::find_event(event);
  if (!ev) return rt::record(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = rt::sticky_error(s->device)) return rt::record(e);
  if (cudaError_t e = rt::sticky_error(ev->device)) return rt::record(e);
  const std::shared_ptr<Record> rec = rt::streams_detail::last_record(ev);
  if (!rec || rec->stream == s) return cudaSuccess;  // nothing recorded yet, or already in this stream's order
  rt::Work work;
  work.what = "cudaStreamWaitEvent";
  work.always_run = true;
  if (rt::streams_detail::push(s, std::move(work), {{rec->stream, rec->seq}}) == 0) return rt::record(rt::not_queued_error());
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaEventCreateWithFlags", &device)) return e;
  const unsigned known = cudaEventBlockingSync | cudaEventDisableTiming | cudaEventInterprocess;
  if (!event || (flags & ~known) != 0) return rt::record(cudaErrorInvalidValue);
  if ((flags & cudaEventInterprocess) && !(flags & cudaEventDisableTiming)) return rt::record(cudaErrorInvalidValue);
  if (cudaError_t e = rt::sticky_error(device)) return rt::record(e);
  auto* ev = new Event();
  ev->device = device;
  ev->flags = flags;
  {
    rt::streams_detail::Events& all = rt::streams_detail::events();
    std::lock_guard<std::mutex> lock(all.mutex);
    all.live.insert(ev);
  }
  *event = reinterpret_cast<cudaEvent_t>(ev);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  if (cudaError_t e = rt::enter()) return e;
  return cudaEventCreateWithFlags(event, cudaEventDefault);
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaEventDestroy", &device)) return e;
  auto* ev = reinterpret_cast<Event*>(event);
  {
    rt::streams_detail::Events& all = rt::streams_detail::events();
    std::lock_guard<std::mutex> lock(all.mutex);
    if (!all.live.erase(ev)) return rt::record(cudaErrorInvalidResourceHandle);
  }
  const int owner = ev->device;
  delete ev;  // a record still queued keeps its own state
  return rt::record(rt::sticky_error(owner));
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaEventRecord", &device)) return e;
  Event* ev = rt::streams_detail::find_event(event);
  if (!ev) return rt::record(cudaErrorInvalidResourceHandle);
  rt::Stream* s = nullptr;
  if (cudaError_t e = rt::resolve_stream(stream, device, &s)) return rt::record(e);
  // An event records in streams of the device it was created on.
  if (s->device != ev->device) return rt::record(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = rt::sticky_error(s->device)) return rt::record(e);
  auto rec = std::make_shared<Record>();
  rec->stream = s;
  rt::Work work;
  work.what = "cudaEventRecord";
  work.always_run = true;
  work.run = [rec] {
    rec->when_ns.store(rt::streams_detail::now_ns());
    rec->done.store(true, std::memory_order_release);
  };
  // The sequence number is known once queued; nobody sees the record before.
  const uint64_t seq = rt::streams_detail::push(s, std::move(work), {});
  if (seq == 0) return rt::record(rt::not_queued_error());
  rec->seq = seq;
  std::lock_guard<std::mutex> lock(ev->mutex);
  ev->last = rec;
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaEventQuery", &device)) return e;
  Event* ev = rt::streams_detail::find_event(event);
  if (!ev) return rt::record(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = rt::sticky_error(ev->device)) return rt::record(e);
  const std::shared_ptr<Record> rec = rt::streams_detail::last_record(ev);
  if (rec && !rec->done.load(std::memory_order_acquire)) return cudaErrorNotReady;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaEventSynchronize", &device)) return e;
  Event* ev = rt::streams_detail::find_event(event);
  if (!ev) return rt::record(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = rt::sticky_error(ev->device)) return rt::record(e);
  const std::shared_ptr<Record> rec = rt::streams_detail::last_record(ev);
  if (rec && !rt::streams_detail::wait_for(rec->stream, rec->seq)) return rt::record(cudaErrorCudartUnloading);
  rt::pools_after_synchronize(ev->device);
  return rt::record(rt::sticky_error(ev->device));
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (cudaError_t e = rt::enter()) return e;
  int device = 0;
  if (cudaError_t e = rt::context_device("cudaEventElapsedTime", &device)) return e;
  if (!ms) return rt::record(cudaErrorInvalidValue);
  Event* a = rt::streams_detail::find_event(start);
  Event* b = rt::streams_detail::find_event(end);
  if (!a || !b) return rt::record(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = rt::sticky_error(a->device)) return rt::record(e);
  if (cudaError_t e = rt::sticky_error(b->device)) return rt::record(e);
  if ((a->flags | b->flags) & cudaEventDisableTiming) return rt::record(cudaErrorInvalidResourceHandle);
  const std::shared_ptr<Record> ra = rt::streams_detail::last_record(a);
  const std::shared_ptr<Record> rb = rt::streams_detail::last_record(b);
  if (!ra || !rb) return rt::record(cudaErrorInvalidResourceHandle);  // never recorded
  if (!ra->done.load(std::memory_order_acquire) || !rb->done.load(std::memory_order_acquire)) return cudaErrorNotReady;
  *ms = static_cast<float>(static_cast<double>(rb->when_ns.load() - ra->when_ns.load()) / 1e6);
  return cudaSuccess;
}

}  // extern "C"
