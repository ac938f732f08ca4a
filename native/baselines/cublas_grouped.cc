#include "cublas_grouped.h"

#include "cublaslt_loader.h"
#include "../device/registry.h"
#include "../ops/baselines/grouped_gemm_pointers.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

namespace moekit {

namespace {

// As cuBLASLt's (cublaslt_matmul.cc): 32 MiB recommended on Hopper, 256-byte aligned.
constexpr size_t WORKSPACE_BYTES = size_t{32} << 20;
constexpr uintptr_t WORKSPACE_ALIGNMENT = 256;

}  // namespace

CublasContext::CublasContext(Device& device, const CublasLibrary& library)
    : api_(*library.api),
      library_text_("cuBLAS " + cublaslt_version_text(library.version) + " (" + library.path + ")"),
      workspace_(device.allocate(WORKSPACE_BYTES + WORKSPACE_ALIGNMENT)) {
  const auto base = reinterpret_cast<uintptr_t>(workspace_->data());
  workspace_data_ = reinterpret_cast<void*>((base + WORKSPACE_ALIGNMENT - 1) / WORKSPACE_ALIGNMENT * WORKSPACE_ALIGNMENT);
}

void CublasContext::bind(void* stream) {
  if (!handle_) {
    MOEKIT_CUBLAS_CHECK(api_.create(&handle_));
    // cuBLAS brings its own CUDA runtime, whose exit handler is now
    // registered: the queues must still be stopped before it runs.
    register_exit_handler_again();
    MOEKIT_CUBLAS_CHECK(api_.set_workspace(handle_, workspace_data_, WORKSPACE_BYTES));
  }
  MOEKIT_CUBLAS_CHECK(api_.set_stream(handle_, stream));
}

void CublasContext::strided_batched_gemm(const StridedBatchedGemm& g, void* stream) {
  if (!api_.gemm_strided_batched_ex) throw_unsupported("cublasGemmStridedBatchedEx is missing from " + library_text_);
  bind(stream);
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  const float alpha = 1.0f;
  const float beta = 0.0f;
  MOEKIT_CUBLAS_CHECK(api_.gemm_strided_batched_ex(
      handle_, g.transa, g.transb, static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), &alpha, g.a, g.ab_type,
      static_cast<int>(g.lda), g.stride_a, g.b, g.ab_type, static_cast<int>(g.ldb), g.stride_b, &beta, g.c, g.c_type,
      static_cast<int>(g.ldc), g.stride_c, static_cast<int>(g.batch), cublas::ComputeType::COMPUTE_32F, cublas::GemmAlgo::GEMM_DEFAULT));
}

void CublasContext::grouped_gemm(const GroupedGemmCall& call, void* stream) {
  if (!api_.gemm_grouped_batched_ex) {
    throw_unsupported("cublasGemmGroupedBatchedEx is missing from " + library_text_ + "; it needs cuBLAS 12.5 or newer");
  }
  bind(stream);
  if (call.problems.empty()) return;

  // Problems ordered by m (stable: by expert within one m), one group per m.
  std::vector<size_t> order(call.problems.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return call.problems[x].m < call.problems[y].m; });
  std::vector<int> group_rows, group_size;  // m of each group, problems in it
  for (size_t i : order) {
    const int m = static_cast<int>(call.problems[i].m);
    if (group_rows.empty() || group_rows.back() != m) {
      group_rows.push_back(m);
      group_size.push_back(0);
    }
    ++group_size.back();
  }
  const size_t groups = group_rows.size();
  const size_t count = order.size();
  std::vector<uint64_t> pointers(3 * count);  // cuBLAS's A (our B), its B (our A), C
  for (size_t j = 0; j < count; ++j) {
    const GroupedGemmProblem& p = call.problems[order[j]];
    pointers[j] = reinterpret_cast<uint64_t>(p.b);
    pointers[count + j] = reinterpret_cast<uint64_t>(p.a);
    pointers[2 * count + j] = reinterpret_cast<uint64_t>(p.c);
  }
#ifdef MOEKIT_WITH_CUDA
  auto* dst = static_cast<uint64_t*>(call.pointer_arrays);
  for (size_t start = 0; start < pointers.size(); start += GROUPED_POINTERS_PER_LAUNCH) {
    GroupedGemmPointersParams params;
    params.dst = dst + start;
    params.count = static_cast<int64_t>(std::min<size_t>(GROUPED_POINTERS_PER_LAUNCH, pointers.size() - start));
    std::memcpy(params.values, pointers.data() + start, static_cast<size_t>(params.count) * sizeof(uint64_t));
    grouped_gemm_pointers_v1(params, stream);
  }
#else
  throw_unsupported("baselines.groupedGemm: this build has no CUDA kernels");
#endif
  const std::vector<cublas::Operation> transa(groups, cublas::Operation::OP_T);
  const std::vector<cublas::Operation> transb(groups, cublas::Operation::OP_N);
  // Column-major: cuBLAS's m is our n, its n our m.
  const std::vector<int> lt_m(groups, static_cast<int>(call.n));
  const std::vector<int> k_array(groups, static_cast<int>(call.k));
  const std::vector<int> lda(groups, static_cast<int>(call.k));
  const std::vector<int> ldb(groups, static_cast<int>(call.k));
  const std::vector<int> ldc(groups, static_cast<int>(call.n));
  const std::vector<float> alpha(groups, 1.0f);
  const std::vector<float> beta(groups, 0.0f);
  auto* const* arrays = static_cast<void* const*>(call.pointer_arrays);
  MOEKIT_CUBLAS_CHECK(api_.gemm_grouped_batched_ex(
      handle_, transa.data(), transb.data(), lt_m.data(), group_rows.data(), k_array.data(), alpha.data(), arrays, call.ab_type,
      lda.data(), arrays + count, call.ab_type, ldb.data(), beta.data(), arrays + 2 * count, call.c_type, ldc.data(),
      static_cast<int>(groups), group_size.data(), cublas::ComputeType::COMPUTE_32F));
}

std::shared_ptr<CublasContext> cublas_context(Device& device, const CublasLibrary& library) {
  static std::mutex mutex;
  // Never freed, like the devices: queued work may still hold a context at exit.
  static auto* contexts = new std::map<const Device*, std::shared_ptr<CublasContext>>();
  std::lock_guard<std::mutex> lock(mutex);
  auto found = contexts->find(&device);
  if (found != contexts->end()) return found->second;
  auto context = std::make_shared<CublasContext>(device, library);
  contexts->emplace(&device, context);
  return context;
}

}  // namespace moekit
