// The format of a paged latent cache from its storage tensor (for the
// bindings of mla.append and mla.decode; layouts in cache_layout.h).
#pragma once

#include "../../core/tensor.h"

namespace moekit {

// BF16 for a bf16 [blocks, pageSize, 576] tensor, E4M3 for FP8 rows stored
// as u8 [blocks, pageSize, 656]; else a TypeError naming `name`.
DType mla_cache_format(const TensorRef& cache, const char* op, const char* name);

}  // namespace moekit
