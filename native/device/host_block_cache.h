// Keeps freed large host blocks for reuse. Fresh large allocations come
// straight from mmap and fault in every page on first touch (slow: a copy
// into a new 256 MiB buffer spends most of its time in the kernel), and
// pinned blocks cost a cudaHostAlloc/cudaFreeHost pair that synchronizes
// the GPU. Blocks of at least MIN_CACHED_BYTES are kept, by exact rounded
// size, up to a total cap; the oldest go first.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace moekit {

class HostBlockCache {
 public:
  static constexpr size_t MIN_CACHED_BYTES = size_t{1} << 20;
  static constexpr size_t ROUNDING = size_t{1} << 16;

  // `release` frees a block for good (free or cudaFreeHost).
  HostBlockCache(size_t capacity, std::function<void(void*)> release) : capacity_(capacity), release_(std::move(release)) {}
  ~HostBlockCache() { trim(0); }

  // The size a request is rounded to (what callers allocate and return).
  static size_t rounded(size_t bytes) { return bytes < MIN_CACHED_BYTES ? bytes : (bytes + ROUNDING - 1) / ROUNDING * ROUNDING; }

  // A cached block of exactly `rounded_bytes`, or nullptr.
  void* take(size_t rounded_bytes);

  // Keeps `data` (of `rounded_bytes`) or releases it when it is too small or the cache is full.
  void give(void* data, size_t rounded_bytes);

  // Releases cached blocks until at most `keep_bytes` remain.
  void trim(size_t keep_bytes);

  // Bytes held now.
  size_t cached_bytes();

 private:
  struct Block {
    void* data;
    size_t bytes;
  };
  std::mutex mutex_;
  std::deque<Block> blocks_;  // oldest first
  size_t cached_ = 0;
  size_t capacity_;
  std::function<void(void*)> release_;
};

}  // namespace moekit
