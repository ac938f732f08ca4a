// The CPU device: host memory, a queue thread, and parallel_for for big ops.
#pragma once

#include "../core/device.h"
#include "host_block_cache.h"
#include "host_memory.h"

namespace moekit {

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(const HostMemory& memory);
  DeviceInfo info() const override;

  void copy_to_host(ExecContext&, void* dst, const void* src, size_t bytes) override;
  void copy_from_host(ExecContext&, void* dst, const void* src, size_t bytes) override;
  void copy_within(ExecContext&, void* dst, const void* src, size_t bytes) override;
  void fill_bytes(ExecContext&, void* dst, int value, size_t bytes) override;
  void finish(ExecContext&) override {}
  std::unique_ptr<Marker> record_marker(ExecContext&) override;
  double elapsed_ms(const Marker& start, const Marker& end) override;

 protected:
  void* raw_allocate(size_t bytes, bool pinned) override;
  void raw_free(void* data, size_t bytes, bool pinned) override;
  void release_cached() override;
  uint64_t capacity() const override { return memory_limit_; }
  std::string capacity_note() const override;
  void add_pool_stats(MemoryStats& m) override;

 private:
  DeviceInfo info_;
  uint64_t memory_limit_;
  std::string memory_limit_source_;
  HostBlockCache pageable_cache_;
  HostBlockCache pinned_cache_;
};

// Multithreaded memcpy for large host copies.
void host_copy(void* dst, const void* src, size_t bytes);

}  // namespace moekit
