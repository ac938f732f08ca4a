// Host memory the runtime ops use on the way to and from devices.
#pragma once

#include <cstdint>

#include "../../core/device.h"

namespace moekit {

// Host memory for data on its way to or from a device (not a tensor):
// never poisoned (it is filled at once) and safe to take on queue threads.
StoragePtr host_staging(size_t bytes);

// Bytes of read results not yet handed to JS (read by a test hook: a read
// whose environment is gone must free its buffer).
uint64_t pending_read_bytes();

}  // namespace moekit
