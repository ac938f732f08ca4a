// ldmatrix.sync.aligned.m8n8.x{1,2,4}{.trans}.shared.b16 (PTX ISA 9.7.14.5.15).
// Lanes 8j..8j+7 name the eight 16-byte rows of matrix j; x1 reads only
// lanes 0-7's addresses and x2 only lanes 0-15's, so the other lanes'
// operands may hold anything. Register j of every lane receives matrix j:
//   plain   lane l: row l/4, columns 2(l%4) (low half) and 2(l%4)+1 (high);
//   .trans  lane l: column l/4, rows 2(l%4) (low half) and 2(l%4)+1 (high).
#include <cstdio>
#include <cstring>

#include "ptx.h"

namespace moekit {
namespace emu {
namespace ptx {

bool ldmatrix(int num, bool trans, const uint32_t (&address)[32], SharedMemory& smem, uint32_t (&out)[32][4],
              std::string* why) {
  if (num != 1 && num != 2 && num != 4) {
    if (why) *why = "ldmatrix: .x" + std::to_string(num) + " is not a valid shape (x1, x2 or x4)";
    return false;
  }
  const int lanes = 8 * num;
  // Every named address is checked before anything is read, so a fault
  // names the lowest offending lane whatever the read order.
  for (int lane = 0; lane < lanes; ++lane) {
    if (address[lane] % 16 != 0) {
      if (why) {
        char text[128];
        std::snprintf(text, sizeof text, "ldmatrix: lane %d's row address 0x%x is not 16-byte aligned", lane,
                      address[lane]);
        *why = text;
      }
      return false;
    }
  }
  uint16_t rows[4][8][8];  // [matrix][row][column]
  for (int lane = 0; lane < lanes; ++lane) {
    uint8_t bytes[16];
    if (!smem.read(lane, address[lane], bytes, sizeof bytes)) {
      if (why) {
        char text[128];
        std::snprintf(text, sizeof text, "ldmatrix: the read of lane %d's row at 0x%x was rejected", lane,
                      address[lane]);
        *why = text;
      }
      return false;
    }
    // Shared memory is little-endian: element c of the row is bytes 2c, 2c+1.
    for (int c = 0; c < 8; ++c)
      rows[lane / 8][lane % 8][c] = static_cast<uint16_t>(bytes[2 * c] | (bytes[2 * c + 1] << 8));
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int q = lane / 4;
    const int p = lane % 4;
    for (int j = 0; j < num; ++j) {
      const uint16_t low = trans ? rows[j][2 * p][q] : rows[j][q][2 * p];
      const uint16_t high = trans ? rows[j][2 * p + 1][q] : rows[j][q][2 * p + 1];
      out[lane][j] = static_cast<uint32_t>(low) | (static_cast<uint32_t>(high) << 16);
    }
  }
  return true;
}

}  // namespace ptx
}  // namespace emu
}  // namespace moekit
