// wgmma.mma_async.sync.aligned.m64n{n}k32.f32.e4m3.e4m3 with both operands
// in shared memory (PTX ISA 9.7.15.5.2), the matrix descriptor
// (9.7.15.5.1.2.2) and the accumulator fragment (given by the ISA only as a
// figure; CUTLASS's CLayout_64xN).
//
// Descriptor: [13:0] start, [29:16] leading byte offset, [45:32] stride byte
// offset, each stored as (x & 0x3FFFF) >> 4; [51:49] base offset; [63:62]
// layout (0 none, 1 128B, 2 64B, 3 32B swizzle).
//
// K-major swizzled operands (9.7.15.5.1.2.1): an atom is 8 rows of `span`
// bytes; the stride byte offset separates 8-row groups and the leading byte
// offset is unused. Byte k of row r sits at
//   swizzle(start + (r/8) * SBO + (r%8) * span + k, span)
// on the absolute shared address, which is why the K slices of a wider
// tile are reached by adding 32 to start and the base offset only
// describes a pattern that does not start on its repeat boundary.
//
// wgmma.mma_async.sync.aligned.m64n{n}k16.f32.bf16.bf16 (9.7.15.5.2): the
// same accumulator, K = 16 bf16 values (32 bytes per K-major row), and the
// transpose immediates imm-trans-a / imm-trans-b, which only 16-bit types
// have: 0 is K-major, 1 is MN-major ("transposed"). An MN-major swizzled
// operand's canonical layout (the ISA's table of canonical layouts, in
// units of T = span / 2 bf16 elements per swizzle row) is
//   ((T, m), (8, k)) : ((1, LBO), (T, SBO))
// i.e. element (mn, k) at
//   swizzle(start + (mn / T) * LBO + (k / 8) * SBO + (k % 8) * span + 2 * (mn % T), span):
// rows of the atom are consecutive k, each `span` bytes of consecutive MN
// elements; the leading byte offset separates atoms along MN, the stride
// byte offset atoms along K.
#include <cstdio>
#include <vector>

#include "ptx.h"

namespace moekit {
namespace emu {
namespace ptx {

namespace {

constexpr int WGMMA_M = 64;
constexpr int WGMMA_K = 32;  // bytes of e4m3 per row: one instruction's K

std::string hex(uint64_t x) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(x));
  return text;
}

// The layout checks both majors share: a swizzled layout whose pattern
// start the emulation understands.
bool check_layout(const MatrixDescriptor& d, const std::string& which, std::string* why) {
  if (d.swizzle_span == 0) {
    if (why) *why = which + "layout none (no swizzle) not supported by the emulation";
    return false;
  }
  // The start field holds address bits 4..17, so the 16-byte alignment the
  // ISA requires of the matrix always holds here.
  const uint32_t span = static_cast<uint32_t>(d.swizzle_span);
  const uint32_t lines_per_pattern = span / 16;  // the pattern repeats every 8 * span bytes
  const uint32_t line_in_pattern = (d.start_address >> 7) & (lines_per_pattern - 1);
  // 128B: the base offset is (start >> 7) & 7 (0 on a 1024-byte boundary).
  // 64B/32B: only the pattern-aligned form (base offset 0, start in the
  // pattern's first 128-byte line, as K slices of an aligned tile are) is
  // understood well enough to emulate.
  if (span == 128 ? d.base_offset != line_in_pattern : (line_in_pattern != 0 || d.base_offset != 0)) {
    if (why) {
      *why = which + "base offset " + std::to_string(d.base_offset) + " with start address " +
             hex(d.start_address) + " in a " + std::to_string(span) + "B-swizzled layout: " +
             (span == 128 ? "expected " + std::to_string(line_in_pattern)
                          : std::string("an unaligned 64B/32B pattern start is not supported by the emulation"));
    }
    return false;
  }
  return true;
}

// Reads `rows` x 32 bytes of a K-major operand into dense[r * 32 + k].
bool read_operand(const char* name, uint64_t desc, int rows, SharedMemory& smem, std::vector<uint8_t>& dense,
                  std::string* why) {
  const MatrixDescriptor d = decode_descriptor(desc);
  const std::string which = std::string("wgmma: operand ") + name + " (descriptor " + hex(desc) + "): ";
  if (!check_layout(d, which, why)) return false;
  const uint32_t span = static_cast<uint32_t>(d.swizzle_span);
  dense.assign(static_cast<size_t>(rows) * WGMMA_K, 0);
  for (int r = 0; r < rows; ++r) {
    const uint32_t row_address = d.start_address + static_cast<uint32_t>(r / 8) * d.stride_byte_offset +
                                 static_cast<uint32_t>(r % 8) * span;
    // The swizzle moves whole 16-byte chunks, so each chunk is one read.
    for (int k = 0; k < WGMMA_K; k += 16) {
      const uint32_t address = swizzle(row_address + static_cast<uint32_t>(k), d.swizzle_span);
      if (!smem.read(-1, address, &dense[static_cast<size_t>(r) * WGMMA_K + k], 16)) {
        if (why) *why = which + "the read of row " + std::to_string(r) + " at " + hex(address) + " was rejected";
        return false;
      }
    }
  }
  return true;
}

// Reads a bf16 MN-major operand of `rows` MN elements by 16 K into
// dense[mn * 32 + 2 * k] (the K-major image read_operand gives).
bool read_operand_mn(const char* name, uint64_t desc, int rows, SharedMemory& smem, std::vector<uint8_t>& dense,
                     std::string* why) {
  const MatrixDescriptor d = decode_descriptor(desc);
  const std::string which = std::string("wgmma: operand ") + name + " (descriptor " + hex(desc) + ", MN-major): ";
  if (!check_layout(d, which, why)) return false;
  const uint32_t span = static_cast<uint32_t>(d.swizzle_span);
  const int per_row = static_cast<int>(span / 2);  // T: bf16 elements along MN in one swizzle row
  dense.assign(static_cast<size_t>(rows) * WGMMA_K, 0);
  uint8_t chunk[16];
  for (int k = 0; k < 16; ++k) {
    // A 16-byte chunk holds 8 consecutive MN elements of one k (the swizzle moves whole chunks).
    for (int mn = 0; mn < rows; mn += 8) {
      const uint32_t linear = d.start_address + static_cast<uint32_t>(mn / per_row) * d.leading_byte_offset +
                              static_cast<uint32_t>(k / 8) * d.stride_byte_offset + static_cast<uint32_t>(k % 8) * span +
                              static_cast<uint32_t>(2 * (mn % per_row));
      const uint32_t address = swizzle(linear, d.swizzle_span);
      if (!smem.read(-1, address, chunk, 16)) {
        if (why) *why = which + "the read of k " + std::to_string(k) + ", elements " + std::to_string(mn) + ".." +
                        std::to_string(mn + 7) + " at " + hex(address) + " was rejected";
        return false;
      }
      for (int e = 0; e < 8; ++e) {
        dense[static_cast<size_t>(mn + e) * WGMMA_K + 2 * k] = chunk[2 * e];
        dense[static_cast<size_t>(mn + e) * WGMMA_K + 2 * k + 1] = chunk[2 * e + 1];
      }
    }
  }
  return true;
}

}  // namespace

MatrixDescriptor decode_descriptor(uint64_t desc) {
  MatrixDescriptor d;
  d.start_address = static_cast<uint32_t>(desc & 0x3FFFu) << 4;
  d.leading_byte_offset = static_cast<uint32_t>((desc >> 16) & 0x3FFFu) << 4;
  d.stride_byte_offset = static_cast<uint32_t>((desc >> 32) & 0x3FFFu) << 4;
  d.base_offset = static_cast<uint32_t>((desc >> 49) & 0x7u);
  static const int spans[4] = {0, 128, 64, 32};
  d.swizzle_span = spans[(desc >> 62) & 0x3u];
  return d;
}

bool wgmma_m64nk32_e4m3(int n, uint64_t desc_a, uint64_t desc_b, bool scale_d, SharedMemory& smem, float* acc,
                        std::string* why) {
  if (n < 8 || n > 256 || n % 8 != 0) {
    if (why) *why = "wgmma: n = " + std::to_string(n) + " is not a valid shape (a multiple of 8 from 8 to 256)";
    return false;
  }
  // Both operands are read before acc is touched, so a fault leaves it as
  // it was.
  std::vector<uint8_t> a;
  std::vector<uint8_t> b;
  if (!read_operand("A", desc_a, WGMMA_M, smem, a, why)) return false;
  if (!read_operand("B", desc_b, n, smem, b, why)) return false;
  float values[256];
  for (int i = 0; i < 256; ++i) values[i] = decode(Format::E4M3, static_cast<uint32_t>(i));
  for (int r = 0; r < WGMMA_M; ++r) {
    const uint8_t* a_row = &a[static_cast<size_t>(r) * WGMMA_K];
    for (int c = 0; c < n; ++c) {
      const uint8_t* b_row = &b[static_cast<size_t>(c) * WGMMA_K];
      float& d = acc[static_cast<size_t>(r) * n + c];
      float sum = scale_d ? d : 0.0f;
      for (int k = 0; k < WGMMA_K; ++k) sum += values[a_row[k]] * values[b_row[k]];
      d = sum;
    }
  }
  return true;
}

bool wgmma_m64nk16_bf16(int n, uint64_t desc_a, uint64_t desc_b, bool scale_d, int trans_a, int trans_b, SharedMemory& smem,
                        float* acc, std::string* why) {
  if (n < 8 || n > 256 || n % 8 != 0) {
    if (why) *why = "wgmma: n = " + std::to_string(n) + " is not a valid shape (a multiple of 8 from 8 to 256)";
    return false;
  }
  if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1)) {
    if (why) *why = "wgmma: imm-trans-a/imm-trans-b must be 0 or 1";
    return false;
  }
  std::vector<uint8_t> a;
  std::vector<uint8_t> b;
  if (!(trans_a ? read_operand_mn("A", desc_a, WGMMA_M, smem, a, why) : read_operand("A", desc_a, WGMMA_M, smem, a, why))) return false;
  if (!(trans_b ? read_operand_mn("B", desc_b, n, smem, b, why) : read_operand("B", desc_b, n, smem, b, why))) return false;
  const auto value = [](const uint8_t* p) { return decode(Format::BF16, static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8)); };
  for (int r = 0; r < WGMMA_M; ++r) {
    const uint8_t* a_row = &a[static_cast<size_t>(r) * WGMMA_K];
    for (int c = 0; c < n; ++c) {
      const uint8_t* b_row = &b[static_cast<size_t>(c) * WGMMA_K];
      float& d = acc[static_cast<size_t>(r) * n + c];
      float sum = scale_d ? d : 0.0f;
      for (int k = 0; k < 16; ++k) sum += value(a_row + 2 * k) * value(b_row + 2 * k);
      d = sum;
    }
  }
  return true;
}

// Register v = 4j + 2h + b of thread (warp w, lane with g = lane >> 2,
// t = lane % 4) holds D[16w + g + 8h][8j + 2t + b]. Out-of-range arguments
// give -1, -1.
void wgmma_accumulator_coord(int n, int thread, int reg, int* row, int* col) {
  if (thread < 0 || thread >= 128 || reg < 0 || reg >= n / 2) {
    *row = -1;
    *col = -1;
    return;
  }
  const int w = thread / 32;
  const int lane = thread % 32;
  const int g = lane >> 2;
  const int t = lane % 4;
  const int j = reg / 4;
  const int h = (reg / 2) % 2;
  const int b = reg % 2;
  *row = 16 * w + g + 8 * h;
  *col = 8 * j + 2 * t + b;
}

}  // namespace ptx
}  // namespace emu
}  // namespace moekit
