// mla.prefill: multi-head attention over packed variable-length sequences
// with the keys and values decompressed from the MLA latent (DeepSeek-V3's
// "naive" attention, the compute-friendly prefill path; docs/architecture.md,
// "MLA prefill"):
//
//   sequence b owns tokens cu_seq_lens[b] .. cu_seq_lens[b+1] - 1; for a
//   token s of it and head h,
//     k[s, h] = [ k_nope[s, h] (128) | k_rope[s] (64, shared by the heads) ]
//     k_nope[s, h, d] = bf16( sum_c latent[s, c] * wkv_b[h*256 + d, c] )        (W_UK)
//     v[s, h, d]      = bf16( sum_c latent[s, c] * wkv_b[h*256 + 128 + d, c] )  (W_UV)
//   and for a query token i of the same sequence (local position qi),
//     score(i, j) = softmax_scale * q[i, h, :] . k[j, h, :]   for the keys j of
//                   the sequence with local position kj <= qi when causal
//                   (top-left alignment: Sq = Sk, query qi sees keys 0..qi),
//                   every key of the sequence otherwise;
//     out[i, h, :] = sum_j softmax(score)(i, j) * v[j, h, :]   (bf16)
//     lse[h, i]    = log(sum_j exp(score(i, j)))               (f32, natural log)
//
// The decompressed k_nope and v are rounded to bf16, as DeepSeek's naive
// path materializes them (the output of the wkv_b linear); the CPU twin
// rounds them the same way, then accumulates in double. The LSE is laid out
// [H, T] (heads outer, tokens inner): for one sequence a slice [H, Sq], as
// mla.decode's [B, H, Sq].
//
// cu_seq_lens lives on the device. The binding knows tokens and seqs only;
// the CPU twin checks cu_seq_lens (0 = cu[0] <= cu[1] <= ... <= cu[B] = T,
// else the call fails, naming cuSeqLens). The CUDA kernels never read it on
// the host: they size the grid from T and B and clamp every value into
// [0, T] (cuda/mla/prefill_tiles.h), so garbage gives unspecified rows but
// never an access outside the tensors; tokens no sequence covers are then
// not written.
//
//   v1: flash-attention forward with mma.sync (online softmax in f32), a
//       block per (64-query tile of one sequence, head); each 32-key tile is
//       decompressed from the latent in shared memory by the same block
//       (K = latent . W_UK^T, V = latent . W_UV^T through mma.sync), never
//       written to device memory. sm >= 80. Cost model: cuda/mla/prefill_v1.cu.
//   (a Hopper version, wgmma + TMA with several heads per block sharing the
//   latent tile, is future work)
//
//   kernels:  cuda/mla/prefill_v1.cu, cuda/mla/prefill_config_v1.h, cuda/mla/prefill_tiles.h
//   CPU twin: native/cpu/mla/prefill.cc
//   tests:    tests/mla/prefill.test.ts, tests/native/mla_prefill_tiles_check.cc
//   bench:    bench/mla/prefill.bench.ts
#pragma once

#include <cstdint>

#include "../../common/stream.h"
#include "latent_dims.h"

namespace moekit {

struct PrefillParams {
  const uint16_t* q;            // bf16 [tokens, heads, 192]: q_nope (128) | q_rope (64)
  const uint16_t* latent;       // bf16 [tokens, 512]
  const uint16_t* k_rope;       // bf16 [tokens, 64]
  const uint16_t* wkv_b;        // bf16 [heads * 256, 512]
  const int32_t* cu_seq_lens;   // i32 [seqs + 1], device memory
  uint16_t* out;                // bf16 [tokens, heads, 128]
  float* lse;                   // f32 [heads, tokens]
  int64_t tokens;
  int64_t heads;
  int32_t seqs;
  float softmax_scale;
  bool causal;
};

void prefill_cpu(const PrefillParams& p);
void prefill_v1(const PrefillParams& p, cudaStream_t stream);
const char* prefill_v1_unsupported(const PrefillParams& p);

}  // namespace moekit
