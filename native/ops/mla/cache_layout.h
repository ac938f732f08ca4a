// The paged latent KV cache of MLA (DESIGN §4): what one token's row holds,
// shared by the binding, the CPU twins and the CUDA kernels.
//
// A cache is `blocks` pages of `page_size` token rows; a sequence's block
// table names its pages in order, so its token t lies in row
// t % page_size of page block_table[t / page_size].
//
//   bf16: one bf16 buffer [blocks, page_size, 576]; a row is
//         [latent (512) | k_rope (64)], the layout of FlashMLA and vLLM.
//   e4m3: one u8 buffer [blocks, page_size, 656]; a row is FlashMLA's FP8
//         token layout: the latent as 512 e4m3 codes, then its 4 f32 scales
//         (one per 128 channels: the 1x128 recipe of quantize,
//         native/ops/fp8/scale_math.h), then k_rope as 64 bf16 (not
//         quantized). One packed buffer, not three: a token is one
//         contiguous 656-byte record (16-byte aligned pieces), a cache is
//         one allocation, hence one buffer written in place
//         (TaskIO::in_place), and it is the layout FlashMLA's FP8 kernels read.
#pragma once

#include <cstdint>

#include "../../common/fp8_block.h"

namespace moekit {

constexpr int MLA_LATENT = 512;                      // kv_lora_rank: the latent, also V
constexpr int MLA_ROPE = 64;                         // qk_rope_head_dim: the shared RoPE key
constexpr int MLA_HEAD = MLA_LATENT + MLA_ROPE;      // 576: q and cache row width (bf16)
constexpr int MLA_FP8_SCALES = static_cast<int>(MLA_LATENT / FP8_SCALE_BLOCK);  // 4 f32 scales per token
constexpr int MLA_FP8_SCALES_OFFSET = MLA_LATENT;    // bytes: after the 512 codes
constexpr int MLA_FP8_ROPE_OFFSET = MLA_FP8_SCALES_OFFSET + MLA_FP8_SCALES * 4;  // 528
constexpr int MLA_FP8_ROW_BYTES = MLA_FP8_ROPE_OFFSET + MLA_ROPE * 2;            // 656

static_assert(MLA_LATENT % FP8_SCALE_BLOCK == 0, "the latent must split into whole 1x128 blocks");
static_assert(MLA_FP8_ROW_BYTES == 656, "FlashMLA's FP8 token layout is 656 bytes");
static_assert(MLA_FP8_ROW_BYTES % 16 == 0 && MLA_FP8_ROPE_OFFSET % 16 == 0, "FP8 rows and their pieces stay 16-byte aligned");

// Page sizes the cache takes (any on the CPU; the CUDA kernels take every
// one too, the tests run 16, 32 and 64).
constexpr int MLA_MAX_PAGE_SIZE = 4096;

}  // namespace moekit
