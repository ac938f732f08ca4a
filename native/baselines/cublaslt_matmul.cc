#include "cublaslt_matmul.h"

#include "../device/registry.h"

#include <cstdint>
#include <mutex>
#include <tuple>
#include <utility>

#ifdef MOEKIT_WITH_CUDA
#include <library_types.h>
#endif

namespace moekit {

#ifdef MOEKIT_WITH_CUDA
// The hand-written cudaDataType values against the toolkit's own header.
static_assert(static_cast<int>(cublaslt::R_32F) == static_cast<int>(CUDA_R_32F), "CUDA_R_32F");
static_assert(static_cast<int>(cublaslt::R_16F) == static_cast<int>(CUDA_R_16F), "CUDA_R_16F");
static_assert(static_cast<int>(cublaslt::R_16BF) == static_cast<int>(CUDA_R_16BF), "CUDA_R_16BF");
static_assert(static_cast<int>(cublaslt::R_8F_E4M3) == static_cast<int>(CUDA_R_8F_E4M3), "CUDA_R_8F_E4M3");
static_assert(static_cast<int>(cublaslt::R_8F_E5M2) == static_cast<int>(CUDA_R_8F_E5M2), "CUDA_R_8F_E5M2");
#endif

namespace {

// cuBLAS recommends 32 MiB of workspace on Hopper (cuBLAS documentation, cublasLtMatmul workspace).
constexpr size_t WORKSPACE_BYTES = size_t{32} << 20;
// cuBLASLt wants its workspace 256-byte aligned; the pool's alignment is not documented.
constexpr uintptr_t WORKSPACE_ALIGNMENT = 256;
// cuBLASLt assumes 256-byte aligned operands unless told less.
constexpr uint32_t MAX_ASSUMED_ALIGNMENT = 256;
// Benchmarks sweep a few dozen shapes; a runaway caller must not grow the cache forever.
constexpr size_t MAX_CACHED_PLANS = 1024;

uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 1;
  while (a < MAX_ASSUMED_ALIGNMENT && address % (2 * a) == 0) a *= 2;
  return a;
}

const char* type_name(cublaslt::DataType t) {
  switch (t) {
    case cublaslt::R_32F: return "f32";
    case cublaslt::R_16F: return "f16";
    case cublaslt::R_16BF: return "bf16";
    case cublaslt::R_8F_E4M3: return "e4m3";
    case cublaslt::R_8F_E5M2: return "e5m2";
  }
  return "?";
}

// The descriptors of one call. The success path destroys them with every
// status checked; when an exception is already on its way, the destructor
// frees what is left and ignores the statuses (they free host memory only).
struct Descriptors {
  explicit Descriptors(const cublaslt::Api& api) : api(api) {}
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
  ~Descriptors() {
    if (pref) (void)api.preference_destroy(pref);
    if (d) (void)api.matrix_layout_destroy(d);
    if (b) (void)api.matrix_layout_destroy(b);
    if (a) (void)api.matrix_layout_destroy(a);
    if (desc) (void)api.matmul_desc_destroy(desc);
  }

  void destroy() {
    if (pref) MOEKIT_CUBLASLT_CHECK(api.preference_destroy(std::exchange(pref, nullptr)));
    if (d) MOEKIT_CUBLASLT_CHECK(api.matrix_layout_destroy(std::exchange(d, nullptr)));
    if (b) MOEKIT_CUBLASLT_CHECK(api.matrix_layout_destroy(std::exchange(b, nullptr)));
    if (a) MOEKIT_CUBLASLT_CHECK(api.matrix_layout_destroy(std::exchange(a, nullptr)));
    if (desc) MOEKIT_CUBLASLT_CHECK(api.matmul_desc_destroy(std::exchange(desc, nullptr)));
  }

  const cublaslt::Api& api;
  cublaslt::MatmulDesc desc = nullptr;
  cublaslt::MatrixLayout a = nullptr;  // cuBLASLt's A: our B
  cublaslt::MatrixLayout b = nullptr;  // cuBLASLt's B: our A
  cublaslt::MatrixLayout d = nullptr;  // C and D: our C
  cublaslt::Preference pref = nullptr;
};

}  // namespace

bool CublasLtContext::PlanKey::operator<(const PlanKey& o) const {
  return std::tie(m, n, k, ab_type, c_type, scaling, align_a, align_b, align_c) <
         std::tie(o.m, o.n, o.k, o.ab_type, o.c_type, o.scaling, o.align_a, o.align_b, o.align_c);
}

CublasLtContext::CublasLtContext(Device& device, const CublasLtLibrary& library)
    : api_(*library.api),
      library_text_("cuBLASLt " + cublaslt_version_text(library.version) + " (" + library.path + ")"),
      workspace_(device.allocate(WORKSPACE_BYTES + WORKSPACE_ALIGNMENT)) {
  const auto base = reinterpret_cast<uintptr_t>(workspace_->data());
  const uintptr_t aligned = (base + WORKSPACE_ALIGNMENT - 1) / WORKSPACE_ALIGNMENT * WORKSPACE_ALIGNMENT;
  workspace_data_ = reinterpret_cast<void*>(aligned);
}

std::string CublasLtContext::describe(const LtMatmulProblem& p) const {
  std::string s = "M=" + std::to_string(p.m) + ", N=" + std::to_string(p.n) + ", K=" + std::to_string(p.k) + ", " +
                  type_name(p.ab_type) + " inputs, " + type_name(p.c_type) + " output";
  if (p.scaling == LtScaling::Tensor) s += ", per-tensor scales";
  if (p.scaling == LtScaling::Block) s += ", 1x128/128x128 block scales";
  return s + " with " + library_text_;
}

void CublasLtContext::matmul(const LtMatmulProblem& p, void* stream) {
  if (!handle_) {
    MOEKIT_CUBLASLT_CHECK(api_.create(&handle_));
    // cuBLASLt brings its own CUDA runtime, whose exit handler is now
    // registered: the queues must still be stopped before it runs.
    register_exit_handler_again();
  }

  Descriptors d(api_);
  MOEKIT_CUBLASLT_CHECK(api_.matmul_desc_create(&d.desc, cublaslt::COMPUTE_32F, cublaslt::R_32F));
  const int32_t trans_a = cublaslt::OP_T;
  const int32_t trans_b = cublaslt::OP_N;
  MOEKIT_CUBLASLT_CHECK(api_.matmul_desc_set_attribute(d.desc, cublaslt::DESC_TRANSA, &trans_a, sizeof(trans_a)));
  MOEKIT_CUBLASLT_CHECK(api_.matmul_desc_set_attribute(d.desc, cublaslt::DESC_TRANSB, &trans_b, sizeof(trans_b)));
  if (p.scaling != LtScaling::None) {
    // Off: cuBLASLt then promotes the FP8 partial sums to f32 regularly, the accurate mode.
    const int8_t fast_accum = 0;
    MOEKIT_CUBLASLT_CHECK(api_.matmul_desc_set_attribute(d.desc, cublaslt::DESC_FAST_ACCUM, &fast_accum, sizeof(fast_accum)));
    // cuBLASLt's A is our B and its B our A: the scales swap with the operands.
    const void* lt_a_scales = p.b_scales;
    const void* lt_b_scales = p.a_scales;
    MOEKIT_CUBLASLT_CHECK(
        api_.matmul_desc_set_attribute(d.desc, cublaslt::DESC_A_SCALE_POINTER, &lt_a_scales, sizeof(lt_a_scales)));
    MOEKIT_CUBLASLT_CHECK(
        api_.matmul_desc_set_attribute(d.desc, cublaslt::DESC_B_SCALE_POINTER, &lt_b_scales, sizeof(lt_b_scales)));
    if (p.scaling == LtScaling::Block) {
      // Set only here: libraries before 12.8 do not know the attribute, and scalar is its default.
      const int32_t lt_a_mode = cublaslt::SCALE_BLK128x128_32F;
      const int32_t lt_b_mode = cublaslt::SCALE_VEC128_32F;
      MOEKIT_CUBLASLT_CHECK(api_.matmul_desc_set_attribute(d.desc, cublaslt::DESC_A_SCALE_MODE, &lt_a_mode, sizeof(lt_a_mode)));
      MOEKIT_CUBLASLT_CHECK(api_.matmul_desc_set_attribute(d.desc, cublaslt::DESC_B_SCALE_MODE, &lt_b_mode, sizeof(lt_b_mode)));
    }
  }
  const auto m = static_cast<uint64_t>(p.m);
  const auto n = static_cast<uint64_t>(p.n);
  const auto k = static_cast<uint64_t>(p.k);
  MOEKIT_CUBLASLT_CHECK(api_.matrix_layout_create(&d.a, p.ab_type, k, n, p.k));
  MOEKIT_CUBLASLT_CHECK(api_.matrix_layout_create(&d.b, p.ab_type, k, m, p.k));
  MOEKIT_CUBLASLT_CHECK(api_.matrix_layout_create(&d.d, p.c_type, n, m, p.n));

  const PlanKey key{p.m,
                    p.n,
                    p.k,
                    static_cast<int32_t>(p.ab_type),
                    static_cast<int32_t>(p.c_type),
                    static_cast<int32_t>(p.scaling),
                    alignment_of(p.b),
                    alignment_of(p.a),
                    alignment_of(p.c)};
  auto plan = plans_.find(key);
  if (plan == plans_.end()) {
    MOEKIT_CUBLASLT_CHECK(api_.preference_create(&d.pref));
    const uint64_t max_workspace = WORKSPACE_BYTES;
    MOEKIT_CUBLASLT_CHECK(
        api_.preference_set_attribute(d.pref, cublaslt::PREF_MAX_WORKSPACE_BYTES, &max_workspace, sizeof(max_workspace)));
    MOEKIT_CUBLASLT_CHECK(
        api_.preference_set_attribute(d.pref, cublaslt::PREF_MIN_ALIGNMENT_A_BYTES, &key.align_a, sizeof(key.align_a)));
    MOEKIT_CUBLASLT_CHECK(
        api_.preference_set_attribute(d.pref, cublaslt::PREF_MIN_ALIGNMENT_B_BYTES, &key.align_b, sizeof(key.align_b)));
    MOEKIT_CUBLASLT_CHECK(
        api_.preference_set_attribute(d.pref, cublaslt::PREF_MIN_ALIGNMENT_C_BYTES, &key.align_c, sizeof(key.align_c)));
    MOEKIT_CUBLASLT_CHECK(
        api_.preference_set_attribute(d.pref, cublaslt::PREF_MIN_ALIGNMENT_D_BYTES, &key.align_c, sizeof(key.align_c)));
    cublaslt::HeuristicResult result = {};
    int returned = 0;
    const cublaslt::Status status =
        api_.algo_get_heuristic(handle_, d.desc, d.a, d.b, d.d, d.d, d.pref, 1, &result, &returned);
    // Some releases answer NOT_SUPPORTED, others success with no result.
    if (status == cublaslt::STATUS_NOT_SUPPORTED || (status == cublaslt::STATUS_SUCCESS && returned == 0)) {
      throw_unsupported("no cuBLASLt algorithm for " + describe(p) + " (cublasLtMatmulAlgoGetHeuristic returned none)");
    }
    cublaslt_check(status, "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__);
    cublaslt_check(result.state, "cublasLtMatmulAlgoGetHeuristic (result state)", __FILE__, __LINE__);
    if (plans_.size() >= MAX_CACHED_PLANS) plans_.clear();
    plan = plans_.emplace(key, result.algo).first;
  }

  const float alpha = 1.0f;
  const float beta = 0.0f;
  MOEKIT_CUBLASLT_CHECK(api_.matmul(handle_, d.desc, &alpha, p.b, d.a, p.a, d.b, &beta, p.c, d.d, p.c, d.d,
                                    &plan->second, workspace_data_, WORKSPACE_BYTES, stream));
  d.destroy();
}

std::shared_ptr<CublasLtContext> cublaslt_context(Device& device, const CublasLtLibrary& library) {
  static std::mutex mutex;
  // Never freed, like the devices: queued work may still hold a context at exit.
  static auto* contexts = new std::map<const Device*, std::shared_ptr<CublasLtContext>>();
  std::lock_guard<std::mutex> lock(mutex);
  auto found = contexts->find(&device);
  if (found != contexts->end()) return found->second;
  auto context = std::make_shared<CublasLtContext>(device, library);
  contexts->emplace(&device, context);
  return context;
}

}  // namespace moekit
