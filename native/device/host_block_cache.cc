#include "host_block_cache.h"

#include <vector>

namespace moekit {

void* HostBlockCache::take(size_t rounded_bytes) {
  if (rounded_bytes < MIN_CACHED_BYTES) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {  // newest first: warmest in cache
    if (it->bytes == rounded_bytes) {
      void* data = it->data;
      cached_ -= it->bytes;
      blocks_.erase(std::next(it).base());
      return data;
    }
  }
  return nullptr;
}

void HostBlockCache::give(void* data, size_t rounded_bytes) {
  // Runs from destructors: nothing here may throw, so a block that cannot
  // be kept is freed, and evicted blocks are freed under the lock
  // (release_ does not throw).
  if (rounded_bytes < MIN_CACHED_BYTES || rounded_bytes > capacity_) {
    release_(data);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    blocks_.push_back({data, rounded_bytes});
  } catch (...) {
    release_(data);
    return;
  }
  cached_ += rounded_bytes;
  while (cached_ > capacity_) {
    release_(blocks_.front().data);
    cached_ -= blocks_.front().bytes;
    blocks_.pop_front();
  }
}

size_t HostBlockCache::cached_bytes() {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_;
}

void HostBlockCache::trim(size_t keep_bytes) {
  std::vector<void*> evicted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    while (cached_ > keep_bytes && !blocks_.empty()) {
      evicted.push_back(blocks_.front().data);
      cached_ -= blocks_.front().bytes;
      blocks_.pop_front();
    }
  }
  for (void* p : evicted) release_(p);
}

}  // namespace moekit
