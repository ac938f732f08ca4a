// Which element of the 64 x N accumulator tile each register of a wgmma
// m64nNk* (f32 accumulator) holds, per thread of the warpgroup.
//
// PTX ISA, "Matrix Fragments for wgmma.mma_async.m64nNk32" (figure "WGMMA
// .m64nNk32 register fragment layout for accumulator matrix D"; the same
// layout as for k16): warp w of the warpgroup holds rows 16w .. 16w + 15;
// within a warp, lane l holds rows l / 4 and l / 4 + 8 and, in each group of
// 8 columns, the two adjacent columns 2 * (l % 4) and 2 * (l % 4) + 1.
// Registers come four per 8-column group: (row, col), (row, col + 1),
// (row + 8, col), (row + 8, col + 1). Equivalently CuTe's CLayout_64xN,
// ((4,8,4),(2,2,N/8)) : ((128,1,16),(64,8,512)) onto m + 64 * n.
// Checked by tests/native/sm90/wgmma_layout_check.cc.
#pragma once

#include "../../../native/common/hd.h"

namespace moekit {
namespace sm90 {

constexpr int WARPGROUP_THREADS = 128;
constexpr int WGMMA_M = 64;

// Per-thread base: the row and column of register 0.
MOEKIT_HD constexpr int accumulator_base_row(int thread_in_warpgroup) {
  return 16 * (thread_in_warpgroup / 32) + (thread_in_warpgroup % 32) / 4;
}
MOEKIT_HD constexpr int accumulator_base_col(int thread_in_warpgroup) { return 2 * (thread_in_warpgroup % 4); }

// Per-register offsets from that base (compile-time constants in unrolled loops).
MOEKIT_HD constexpr int accumulator_row_offset(int reg) { return 8 * ((reg / 2) % 2); }
MOEKIT_HD constexpr int accumulator_col_offset(int reg) { return 8 * (reg / 4) + reg % 2; }

// Registers per thread for a 64 x n tile.
MOEKIT_HD constexpr int accumulator_registers(int n) { return WGMMA_M * n / WARPGROUP_THREADS; }

}  // namespace sm90
}  // namespace moekit
