// mla.append on the CPU: the reference for cuda/mla/append_v1.cu (see
// native/ops/mla/append.h). Each token row is copied (bf16) or quantized
// 1x128 (e4m3, the shared scale math of quantize) into its slot.
#include "../../ops/mla/append.h"

#include <cmath>
#include <cstring>
#include <string>

#include "../../common/error.h"
#include "../../common/float_convert.h"
#include "../../ops/fp8/scale_math.h"

namespace moekit {

namespace {

float bf16_value(uint16_t b) { return float_from_bits(static_cast<uint32_t>(b) << 16); }

// The cache row (page, slot) of position t of sequence b; throws for a
// position past the table or a page id outside the cache.
int64_t slot_row(const MlaAppendParams& p, int64_t b, int64_t t) {
  const int64_t page_index = t / p.page_size;
  if (t < 0 || page_index >= p.max_pages) {
    throw Error(ErrorCode::OutOfRange, "mla.append: positions[" + std::to_string(b) + "] + lengths[" + std::to_string(b) +
                                           "] must stay within the block table's " + std::to_string(int64_t{p.max_pages} * p.page_size) +
                                           " slots, got position " + std::to_string(t));
  }
  const int32_t page = p.block_table[b * p.max_pages + page_index];
  if (page < 0 || page >= p.blocks) {
    throw Error(ErrorCode::OutOfRange, "mla.append: blockTable[" + std::to_string(b) + ", " + std::to_string(page_index) +
                                           "] must be a page id in [0, " + std::to_string(p.blocks) + "), got " + std::to_string(page));
  }
  return int64_t{page} * p.page_size + t % p.page_size;
}

}  // namespace

void mla_append_cpu(const MlaAppendParams& p) {
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t n = p.lengths[b];
    for (int64_t s = 0; s < n; ++s) {
      const int64_t row = slot_row(p, b, int64_t{p.positions[b]} + s);
      const uint16_t* latent = p.latent + (b * p.tokens + s) * MLA_LATENT;
      const uint16_t* rope = p.k_rope + (b * p.tokens + s) * MLA_ROPE;
      if (p.cache_dtype == DType::BF16) {
        uint16_t* dst = static_cast<uint16_t*>(p.cache) + row * MLA_HEAD;
        std::memcpy(dst, latent, MLA_LATENT * sizeof(uint16_t));
        std::memcpy(dst + MLA_LATENT, rope, MLA_ROPE * sizeof(uint16_t));
        continue;
      }
      uint8_t* dst = static_cast<uint8_t*>(p.cache) + row * MLA_FP8_ROW_BYTES;
      for (int blk = 0; blk < MLA_FP8_SCALES; ++blk) {
        const int64_t c0 = blk * FP8_SCALE_BLOCK;
        float amax = 0.0f;
        for (int64_t c = c0; c < c0 + FP8_SCALE_BLOCK; ++c) amax = std::fmax(amax, std::fabs(bf16_value(latent[c])));
        const float scale = fp8_block_scale(amax, DType::E4M3, false);
        const float inv = fp8_inverse_scale(scale);
        for (int64_t c = c0; c < c0 + FP8_SCALE_BLOCK; ++c) {
          dst[c] = static_cast<uint8_t>(encode_narrow<Narrow::E4M3>(bf16_value(latent[c]) * inv, true));
        }
        std::memcpy(dst + MLA_FP8_SCALES_OFFSET + blk * 4, &scale, sizeof(float));
      }
      std::memcpy(dst + MLA_FP8_ROPE_OFFSET, rope, MLA_ROPE * sizeof(uint16_t));
    }
  }
}

}  // namespace moekit
