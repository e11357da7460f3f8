#include "runtime/ops/gemm.h"

#include "runtime/ops/dispatch.h"

namespace neft::ops {

void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, float alpha,
          float beta) {
  check_defined("gemm", "a", a);
  check_defined("gemm", "b", b);
  check_defined("gemm", "c", c);
  const Device d = common_device("gemm", {&a, &b, &c});
  auto shapes = [&] {
    return std::string("a ") + a.str() + (trans_a ? " (transposed)" : "") + ", b " + b.str() +
           (trans_b ? " (transposed)" : "") + ", c " + c.str();
  };
  if (a.dim() < 2 || a.dim() > 3 || b.dim() != a.dim() || c.dim() != a.dim())
    fail("gemm: a, b and c must all be 2-D or all 3-D (batched); got ", shapes());
  const int64_t m = trans_a ? a.size(-1) : a.size(-2);
  const int64_t ka = trans_a ? a.size(-2) : a.size(-1);
  const int64_t kb = trans_b ? b.size(-1) : b.size(-2);
  const int64_t n = trans_b ? b.size(-2) : b.size(-1);
  if (ka != kb) fail("gemm: inner dimensions differ (", ka, " vs ", kb, "): ", shapes());
  if (a.dim() == 3 && (b.size(0) != a.size(0) || c.size(0) != a.size(0)))
    fail("gemm: batch sizes differ: ", shapes());
  if (c.size(-2) != m || c.size(-1) != n)
    fail("gemm: c must be [", m, ", ", n, "] (batch first when 3-D): ", shapes());

  check_float_for_device("gemm", "a", a);
  check_dtype("gemm", "b", b, {a.dtype()});
  if (d == Device::CUDA)
    check_dtype("gemm", "c", c, {DType::F32, a.dtype()});
  else
    check_dtype("gemm", "c", c, {DType::F32});
  NEFT_DISPATCH(d, gemm, a, trans_a, b, trans_b, c, alpha, beta);
}

}  // namespace neft::ops
