// cast on the CPU. See native/ops/runtime/cast.h.
#include "../../ops/runtime/cast.h"

#include "../../common/float_convert.h"
#include "../../core/thread_pool.h"

namespace moekit {

namespace {
constexpr int64_t CAST_CHUNK = 1 << 16;
}

void cast_cpu(const CastParams& p) {
  parallel_for(p.n, CAST_CHUNK, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) store_from_double(p.dst, p.dst_dtype, i, load_as_double(p.src, p.src_dtype, i));
  });
}

}  // namespace moekit
