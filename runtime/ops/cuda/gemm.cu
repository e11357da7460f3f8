#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>

#include "runtime/ops/cuda/common.cuh"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/gemm.h"

namespace neft::ops {

namespace {

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32:
      return CUDA_R_32F;
    case DType::BF16:
      return CUDA_R_16BF;
    case DType::F16:
      return CUDA_R_16F;
    default:
      fail("gemm: no cuBLASLt type for dtype ", dtype_name(t));
  }
}

// Largest power of two (up to 256, cuBLASLt's default assumption) dividing every value:
// kernels that need a stricter alignment than the pointers and batch strides have are
// excluded from the heuristic.
uint32_t alignment(uintptr_t ptr, uint64_t stride_bytes) {
  uint32_t a = 256;
  while (a > 1 && ((ptr % a) != 0 || (stride_bytes % a) != 0)) a /= 2;
  return a;
}

// Everything the descriptors and the chosen algorithm depend on.
struct PlanKey {
  int64_t m, n, k, batch;
  bool trans_a, trans_b;
  DType ab, c;
  uint32_t align_a, align_b, align_c;
  auto tie() const {
    return std::tie(m, n, k, batch, trans_a, trans_b, ab, c, align_a, align_b, align_c);
  }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

// cuBLASLt descriptors and the heuristic's first algorithm for one PlanKey. Heuristic
// queries cost tens of microseconds, as much as a small GEMM, so they are asked once.
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

void destroy(Plan& p) {
  if (p.op) cublasLtMatmulDescDestroy(p.op);
  if (p.a) cublasLtMatrixLayoutDestroy(p.a);
  if (p.b) cublasLtMatrixLayoutDestroy(p.b);
  if (p.c) cublasLtMatrixLayoutDestroy(p.c);
}

// A column-major rows x cols layout (leading dimension rows), strided over the batch.
cublasLtMatrixLayout_t layout(DType t, int64_t rows, int64_t cols, int64_t batch) {
  cublasLtMatrixLayout_t l = nullptr;
  NEFT_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&l, cuda_type(t), uint64_t(rows), uint64_t(cols), rows));
  if (batch > 1) {
    const int32_t count = int32_t(batch);
    const int64_t stride = rows * cols;
    NEFT_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &count, sizeof(count)));
    NEFT_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return l;
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a row-major matrix
// read as column-major is its transpose. So cuBLASLt's "A" is our B and its "B" is our A,
// each keeping its own transpose flag, and the result is N x M column-major: our C as is.
Plan make_plan(const PlanKey& key, size_t workspace_bytes) {
  const int64_t m = key.m, n = key.n, k = key.k;
  Plan p;
  NEFT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = key.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = key.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  NEFT_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  NEFT_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  p.a = key.trans_b ? layout(key.ab, k, n, key.batch) : layout(key.ab, n, k, key.batch);
  p.b = key.trans_a ? layout(key.ab, m, k, key.batch) : layout(key.ab, k, m, key.batch);
  p.c = layout(key.c, n, m, key.batch);

  cublasLtMatmulPreference_t pref = nullptr;
  NEFT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = workspace_bytes;
  NEFT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  // Our A and B swap roles (see above), and so do their alignments.
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_b},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_a},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_c}};
  for (const auto& [attr, value] : aligns)
    NEFT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)));

  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(cuda_detail::cublaslt(), p.op, p.a, p.b,
                                                          p.c, p.c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS || found == 0) {
    destroy(p);
    fail("gemm: cuBLASLt has no algorithm for m=", m, " n=", n, " k=", k, " batch=", key.batch,
         " a/b ", dtype_name(key.ab), " c ", dtype_name(key.c), " (",
         s == CUBLAS_STATUS_SUCCESS ? "no result" : cublasLtGetStatusString(s), ")");
  }
  p.algo = result.algo;
  return p;
}

// Plans by key. The map only grows (references to its nodes stay valid) and is bounded: a
// training run has a handful of GEMM shapes; past the bound (a sweep over shapes) a plan
// is made for the one call and destroyed after it.
constexpr size_t kMaxPlans = 512;

// The cached plan, or nullptr with *scratch filled in when the cache is full.
const Plan* plan_for(const PlanKey& key, size_t workspace_bytes, Plan* scratch) {
  static std::mutex mutex;
  static std::map<PlanKey, Plan> plans;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(key);
  if (it != plans.end()) return &it->second;
  if (plans.size() >= kMaxPlans) {
    *scratch = make_plan(key, workspace_bytes);
    return nullptr;
  }
  return &plans.emplace(key, make_plan(key, workspace_bytes)).first->second;
}

}  // namespace

template <>
void gemm<Device::CUDA>(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                        float alpha, float beta) {
  PlanKey key{};
  key.batch = a.dim() == 3 ? a.size(0) : 1;
  key.m = c.size(-2);
  key.n = c.size(-1);
  key.k = trans_a ? a.size(-2) : a.size(-1);
  key.trans_a = trans_a;
  key.trans_b = trans_b;
  key.ab = a.dtype();
  key.c = c.dtype();
  if (key.batch == 0 || key.m == 0 || key.n == 0) return;
  if (key.k == 0) {  // an empty sum; cuBLASLt rejects k = 0
    if (beta == 0.0f)
      c.zero_();
    else
      scale<Device::CUDA>(c, beta);
    return;
  }
  if (key.batch > INT32_MAX) fail("gemm: batch ", key.batch, " exceeds cuBLASLt's range");
  const size_t ab_size = dtype_size(key.ab), c_size = dtype_size(key.c);
  const bool batched = key.batch > 1;
  key.align_a = alignment(uintptr_t(a.raw()), batched ? uint64_t(key.m * key.k) * ab_size : 0);
  key.align_b = alignment(uintptr_t(b.raw()), batched ? uint64_t(key.k * key.n) * ab_size : 0);
  key.align_c = alignment(uintptr_t(c.raw()), batched ? uint64_t(key.m * key.n) * c_size : 0);

  size_t ws_bytes = 0;
  void* ws = cuda_detail::cublaslt_workspace(&ws_bytes);
  Plan scratch;
  const Plan* cached = plan_for(key, ws_bytes, &scratch);
  const Plan& p = cached ? *cached : scratch;
  // Descriptors are host-side and read during the call, so a scratch plan can go right after.
  const cublasStatus_t s =
      cublasLtMatmul(cuda_detail::cublaslt(), p.op, &alpha, b.raw(), p.a, a.raw(), p.b, &beta,
                     c.raw(), p.c, c.raw(), p.c, &p.algo, ws, ws_bytes, cuda_detail::stream());
  if (!cached) destroy(scratch);
  if (s != CUBLAS_STATUS_SUCCESS)
    fail("gemm: cublasLtMatmul failed (", cublasLtGetStatusString(s), ") for a ", a.str(), ", b ",
         b.str(), ", c ", c.str());
}

}  // namespace neft::ops
