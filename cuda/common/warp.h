// The warp, as the device helpers count it. Host-includable.
#pragma once

#include <cstdint>

namespace moekit {

constexpr int WARP_SIZE = 32;
constexpr uint32_t FULL_WARP_MASK = 0xFFFFFFFFu;  // every lane takes part in a shuffle

}  // namespace moekit
