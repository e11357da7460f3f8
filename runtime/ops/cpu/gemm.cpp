#include "runtime/ops/gemm.h"

#include <cblas.h>

#include <limits>

#include "runtime/ops/elementwise.h"

namespace neft::ops {

// OpenBLAS threads the call itself, so there is no OpenMP loop here; a batch is a plain
// loop of row-major sgemm calls on the tensors' own memory (no packing copies of ours).
template <>
void gemm<Device::CPU>(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                       float alpha, float beta) {
  const int64_t batch = a.dim() == 3 ? a.size(0) : 1;
  const int64_t m = c.size(-2), n = c.size(-1);
  const int64_t k = trans_a ? a.size(-2) : a.size(-1);
  const int64_t a_stride = a.size(-2) * a.size(-1), b_stride = b.size(-2) * b.size(-1);
  const int64_t c_stride = m * n;
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: BLAS would reject the zero leading dimensions
    if (beta == 0.0f)
      c.zero_();
    else
      scale<Device::CPU>(c, beta);
    return;
  }
  for (int64_t d : {m, n, k})
    if (d > std::numeric_limits<blasint>::max())
      fail("gemm: dimension ", d, " exceeds the BLAS integer range");
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pc = c.data<float>();
  for (int64_t i = 0; i < batch; ++i)
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), blasint(k), alpha,
                pa + i * a_stride, blasint(a.size(-1)), pb + i * b_stride, blasint(b.size(-1)),
                beta, pc + i * c_stride, blasint(n));
}

}  // namespace neft::ops
