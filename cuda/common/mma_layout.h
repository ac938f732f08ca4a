// Where each element of a warp-level mma.sync operand or accumulator lives:
// which lane holds it, in which register. Plain __host__ __device__ integer
// math so tests/native/mma_layout_check.cc can verify it on the CPU; the
// kernels call the same functions (cuda/common/mma.cuh has the instructions).
//
// Source: PTX ISA, section 9.7.14.5 "Matrix Fragments for mma":
//   9.7.14.5.8  mma.m16n8k16 with floating point type (.f16/.bf16 A, B; .f32 C/D)
//   9.7.14.5.10 mma.m16n8k32 (.e4m3/.e5m2 A, B; .f32 C/D)
// and 9.7.14.5.15 "ldmatrix" (which lane supplies which row address, and the
// fragment each lane receives, Figure 104). In the ISA's words:
//   groupID = %laneid >> 2, threadID_in_group = %laneid % 4.
// Element indices i count "low to high" across a lane's registers, so
// element i of a 16-bit operand is half (i & 1) of register i / 2, and
// element i of an 8-bit operand is byte (i & 3) of register i / 4.
#pragma once

#include "../../native/common/hd.h"
#include "warp.h"

namespace moekit {

constexpr int MMA_M = 16;  // rows of A and C in one mma.sync
constexpr int MMA_N = 8;   // columns of C (rows of the N-major B) in one mma.sync
constexpr int MMA_K16 = 16;
constexpr int MMA_K32 = 32;

// A (row, column) inside one mma operand tile. For A: (m, k). For B: (n, k):
// B is "col" (K-major) in the instruction, which is our [N, K] row-major
// weight layout, so we name B's coordinates by its storage (n row, k col).
// For C/D: (m, n).
struct RowCol {
  int row;
  int col;
};

MOEKIT_HD constexpr int mma_group_id(int lane) { return lane >> 2; }
MOEKIT_HD constexpr int mma_thread_in_group(int lane) { return lane & 3; }

// C/D, f32, m16n8 (the same for k16 and k32): c0, c1 on row groupID,
// c2, c3 on row groupID + 8; columns threadID_in_group * 2 + (i & 1).
MOEKIT_HD constexpr RowCol mma_c_coord(int lane, int i) {
  return RowCol{mma_group_id(lane) + (i >= 2 ? 8 : 0), mma_thread_in_group(lane) * 2 + (i & 1)};
}

// A of m16n8k16, 16-bit elements a0..a7: rows groupID for i in {0,1,4,5},
// groupID + 8 otherwise; columns threadID_in_group * 2 + (i & 1), plus 8 for i >= 4.
MOEKIT_HD constexpr RowCol mma_a_coord_k16(int lane, int i) {
  return RowCol{mma_group_id(lane) + ((i & 2) ? 8 : 0), mma_thread_in_group(lane) * 2 + (i & 1) + (i >= 4 ? 8 : 0)};
}

// B of m16n8k16, 16-bit elements b0..b3, as (n, k): n = groupID,
// k = threadID_in_group * 2 + (i & 1), plus 8 for i >= 2.
MOEKIT_HD constexpr RowCol mma_b_coord_k16(int lane, int i) {
  return RowCol{mma_group_id(lane), mma_thread_in_group(lane) * 2 + (i & 1) + (i >= 2 ? 8 : 0)};
}

// A of m16n8k32, 8-bit elements a0..a15: rows groupID for i in [0,4) and
// [8,12), groupID + 8 otherwise; columns threadID_in_group * 4 + (i & 3),
// plus 16 for i >= 8.
MOEKIT_HD constexpr RowCol mma_a_coord_k32(int lane, int i) {
  return RowCol{mma_group_id(lane) + ((i & 4) ? 8 : 0), mma_thread_in_group(lane) * 4 + (i & 3) + (i >= 8 ? 16 : 0)};
}

// B of m16n8k32, 8-bit elements b0..b7, as (n, k): n = groupID,
// k = threadID_in_group * 4 + (i & 3), plus 16 for i >= 4.
MOEKIT_HD constexpr RowCol mma_b_coord_k32(int lane, int i) {
  return RowCol{mma_group_id(lane), mma_thread_in_group(lane) * 4 + (i & 3) + (i >= 4 ? 16 : 0)};
}

// ---- ldmatrix.m8n8.x4.b16 ------------------------------------------------------
// Each of the four 8x8 matrices (8 rows of 16 bytes) has its row addresses
// supplied by lanes 8q..8q+7 (lane 8q + r gives row r of matrix q), and
// register q of lane t receives 16-bit elements 2 * (t % 4) and
// 2 * (t % 4) + 1 (low half first) of row t / 4 of matrix q.

// Which row of matrix `matrix` lane `lane` supplies the address of
// (only meaningful for lane / 8 == matrix).
MOEKIT_HD constexpr int ldmatrix_row_supplied(int lane) { return lane & 7; }

// The (row, 16-bit column) of matrix q that half h of register q of lane t holds.
MOEKIT_HD constexpr RowCol ldmatrix_fragment_coord(int lane, int half) {
  return RowCol{lane >> 2, (lane & 3) * 2 + half};
}

// A 16-row, 32-byte slab of an operand tile (a 16x16 bf16 A block, or a
// 16x32 FP8 A block) loaded with one ldmatrix.x4 so that registers 0..3 are
// the mma A registers: matrix 0 = rows 0-7 bytes 0-15, 1 = rows 8-15 bytes
// 0-15, 2 = rows 0-7 bytes 16-31, 3 = rows 8-15 bytes 16-31. Returns the
// row (0..15) and 16-byte chunk (0..1) of the slab that `lane` points at.
MOEKIT_HD constexpr RowCol ldmatrix_a_source(int lane) { return RowCol{lane & 15, lane >> 4}; }

// Two 8-row B tiles (n-tiles j and j+1) with 32 bytes of K each, loaded
// with one ldmatrix.x4 so that registers 0, 1 are tile j's mma B registers
// and 2, 3 tile j+1's: matrix 0 = rows 0-7 bytes 0-15, 1 = rows 0-7 bytes
// 16-31, 2 = rows 8-15 bytes 0-15, 3 = rows 8-15 bytes 16-31. Returns the
// row (0..15) and 16-byte chunk (0..1) that `lane` points at.
MOEKIT_HD constexpr RowCol ldmatrix_b_source(int lane) { return RowCol{((lane >> 4) << 3) | (lane & 7), (lane >> 3) & 1}; }

}  // namespace moekit
