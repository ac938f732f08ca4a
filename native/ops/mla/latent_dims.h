// The DeepSeek-V2/V3 MLA head dimensions the prefill-side ops are written
// for (docs/architecture.md, "Numeric conventions"): a 512-wide latent,
// 64 RoPE dimensions shared by all heads, 128 "nope" query/key dimensions
// and 128 value dimensions per head. wkv_b ([H * 256, 512], DeepSeek's
// wkv_b weight) holds per head 128 rows of W_UK, then 128 rows of W_UV.
#pragma once

namespace moekit {

constexpr int MLA_LATENT = 512;                      // kv_lora_rank
constexpr int MLA_ROPE = 64;                         // qk_rope_head_dim
constexpr int MLA_NOPE = 128;                        // qk_nope_head_dim
constexpr int MLA_V = 128;                           // v_head_dim
constexpr int MLA_QK = MLA_NOPE + MLA_ROPE;          // 192: a prefill query/key row
constexpr int MLA_WKV_B_ROWS = MLA_NOPE + MLA_V;     // 256 rows of wkv_b per head

}  // namespace moekit
