// Host semantics of the PTX instructions the kernels' wrappers use, written
// from the PTX ISA's definitions (fragment layouts, descriptor bit fields,
// swizzle, tensor-map boxes), not from the kernels' own layout helpers under
// cuda/common: a misreading in one is then caught by the other.
//
// Everything here is pure: whole-warp (or whole-warpgroup) inputs in,
// outputs out, shared memory read and written through callbacks. The engine
// gathers the lanes, checks accesses and applies the results
// (cuda/emulation/engine). No CUDA headers; bf16/f16/FP8 decoding is done
// here from the formats' definitions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace moekit {
namespace emu {
namespace ptx {

// Shared memory as an instruction sees it: 32-bit shared-window addresses.
// read() copies `bytes` bytes at `address` into dst on behalf of `lane`
// (the lane whose operand named the address; -1 for a warpgroup-wide
// operand) and returns false when the engine rejected the access (it has
// then recorded the fault; the instruction should stop).
struct SharedMemory {
  virtual ~SharedMemory() = default;
  virtual bool read(int lane, uint32_t address, void* dst, size_t bytes) = 0;
};

// ---- element formats --------------------------------------------------------
enum class Format { BF16, F16, E4M3, E5M2 };
float decode(Format f, uint32_t bits);  // bits in the low 8 or 16 bits

// ---- mma.sync ------------------------------------------------------------------
// m16n8k16 (BF16 or F16 inputs) and m16n8k32 (E4M3/E5M2 inputs), row.col,
// f32 accumulate: d = a * b + c for all 32 lanes at once. a[lane][0..3],
// b[lane][0..1], c/d[lane][0..3] as the lanes' registers hold them.
void mma_m16n8k16(Format ab, const uint32_t (&a)[32][4], const uint32_t (&b)[32][2], const float (&c)[32][4],
                  float (&d)[32][4]);
void mma_m16n8k32(Format fa, Format fb, const uint32_t (&a)[32][4], const uint32_t (&b)[32][2],
                  const float (&c)[32][4], float (&d)[32][4]);

// ---- ldmatrix -------------------------------------------------------------------
// ldmatrix.sync.aligned.m8n8.x{num}{.trans}.shared.b16 with every lane's
// address operand; fills out[lane][0..num-1]. Returns false with *why set on
// a misaligned address (each row address must be 16-byte aligned) or when a
// read was rejected.
bool ldmatrix(int num, bool trans, const uint32_t (&address)[32], SharedMemory& smem, uint32_t (&out)[32][4],
              std::string* why);

// ---- swizzle ----------------------------------------------------------------------
// The swizzled byte address of `address` for a swizzle span of 32, 64 or 128
// bytes (0: none).
uint32_t swizzle(uint32_t address, int span_bytes);

// ---- wgmma ------------------------------------------------------------------------
// Fields of a shared-memory matrix descriptor.
struct MatrixDescriptor {
  uint32_t start_address;  // bytes
  uint32_t leading_byte_offset;
  uint32_t stride_byte_offset;
  uint32_t base_offset;    // the 3-bit field
  int swizzle_span;        // 0, 32, 64 or 128 (from the layout field)
};
MatrixDescriptor decode_descriptor(uint64_t desc);

// wgmma.mma_async.sync.aligned.m64n{n}k32.f32.e4m3.e4m3 with A and B from
// K-major descriptors: acc (64 x n, row-major, f32) = A * B + (scale_d ? acc : 0).
// Returns false with *why on an operand it cannot read (misaligned, bad
// layout field, rejected read).
bool wgmma_m64nk32_e4m3(int n, uint64_t desc_a, uint64_t desc_b, bool scale_d, SharedMemory& smem, float* acc,
                        std::string* why);
// wgmma.mma_async.sync.aligned.m64n{n}k16.f32.bf16.bf16 with A and B from
// descriptors; trans_a / trans_b are the imm-trans immediates (0 K-major,
// 1 MN-major). acc as above.
bool wgmma_m64nk16_bf16(int n, uint64_t desc_a, uint64_t desc_b, bool scale_d, int trans_a, int trans_b, SharedMemory& smem,
                        float* acc, std::string* why);
// Where register `reg` of warpgroup thread `thread` (0..127) sits in the
// 64 x n accumulator.
void wgmma_accumulator_coord(int n, int thread, int reg, int* row, int* col);

// ---- tensor maps (TMA) --------------------------------------------------------------
// The emulation's encoding of a CUtensorMap (its 128 opaque bytes hold this).
struct TensorMap {
  uint32_t magic;           // TENSOR_MAP_MAGIC once encoded
  uint32_t rank;            // 1..5
  uint32_t element_bytes;   // 1, 2, 4 or 8
  uint32_t swizzle_span;    // 0, 32, 64, 128
  uint32_t oob_fill_nan;    // 1: NAN_REQUEST_ZERO_FMA
  uint32_t is_float;        // data type is a float type (for the NaN fill)
  uint64_t global_address;
  uint64_t global_dim[5];
  uint64_t global_stride[5];  // bytes; [0] = element_bytes
  // Narrow so that the whole map fits CUtensorMap's 128 bytes (box
  // dimensions are 1..256, element strides 1..8).
  uint16_t box_dim[5];
  uint8_t element_stride[5];
};
constexpr uint32_t TENSOR_MAP_MAGIC = 0x4d4f4554u;  // "TEOM"
static_assert(sizeof(TensorMap) <= 128, "fits a CUtensorMap");

// cuTensorMapEncodeTiled's checks and encoding. Arguments as the driver
// call takes them (the enum values are CUDA's: data type, interleave,
// swizzle, L2 promotion, OOB fill). Returns false with *why on an invalid
// argument (the driver's CUDA_ERROR_INVALID_VALUE).
bool encode_tensor_map_tiled(TensorMap* out, int data_type, uint32_t rank, const void* global_address,
                             const uint64_t* global_dim, const uint64_t* global_strides /* rank-1 */,
                             const uint32_t* box_dim, const uint32_t* element_strides, int interleave, int swizzle,
                             int l2_promotion, int oob_fill, std::string* why);

// The bytes a tile load of the map's box delivers to shared memory (and
// counts in complete_tx): the full box, out-of-bounds parts included.
size_t tensor_map_box_bytes(const TensorMap& map);

// Global memory as the copy engine reads it: false when the engine rejected
// the read (out of bounds).
struct GlobalMemory {
  virtual ~GlobalMemory() = default;
  virtual bool read(uint64_t address, void* dst, size_t bytes) = 0;
};

// cp.async.bulk.tensor.{rank}d tile load at coordinates coords[0..rank-1]
// (innermost first, signed): fills `box` (tensor_map_box_bytes bytes) with
// the box's bytes in their shared-memory order (dense box, dim 0 fastest,
// then swizzled relative to `smem_address`, the destination's shared
// address). Elements outside the tensor get the map's fill value. Returns
// false with *why on a misaligned destination or a rejected read.
bool tma_load_tile(const TensorMap& map, const int32_t* coords, uint32_t smem_address, GlobalMemory& gmem,
                   uint8_t* box, std::string* why);

// ---- mbarrier ------------------------------------------------------------------------
struct Mbarrier {
  bool initialised = false;
  uint32_t phase = 0;     // completed phases
  int32_t pending = 0;    // arrivals still expected in the current phase
  int32_t expected = 0;
  int64_t tx = 0;         // transaction bytes still expected (may go negative)
};
// Each returns false with *why on misuse (uninitialised barrier, count out
// of range, tx out of ±(2^20 - 1)); each that can complete a phase returns
// it in *completed.
bool mbarrier_init(Mbarrier& b, uint32_t count, std::string* why);
bool mbarrier_arrive(Mbarrier& b, uint32_t count, bool* completed, std::string* why);
bool mbarrier_expect_tx(Mbarrier& b, uint32_t bytes, std::string* why);
bool mbarrier_complete_tx(Mbarrier& b, uint32_t bytes, bool* completed, std::string* why);
// try_wait.parity / test_wait.parity: has the phase with this parity completed?
bool mbarrier_test_parity(const Mbarrier& b, uint32_t parity);

}  // namespace ptx
}  // namespace emu
}  // namespace moekit
