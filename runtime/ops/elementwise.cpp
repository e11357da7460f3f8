#include "runtime/ops/elementwise.h"

#include "runtime/error.h"
#include "runtime/ops/dispatch.h"

namespace neft::ops {

void fill(Tensor& x, float value) {
  check_float_for_device("fill", "x", x);
  NEFT_DISPATCH(x.device(), fill, x, value);
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  const Device d = common_device("add", {&a, &b, &out});
  check_float_for_device("add", "a", a);
  check_shape("add", "b", b, a.shape());
  check_shape("add", "out", out, a.shape());
  check_dtype("add", "b", b, {a.dtype()});
  check_dtype("add", "out", out, {a.dtype()});
  NEFT_DISPATCH(d, add, a, b, out);
}

void scale(Tensor& x, float alpha) {
  check_float_for_device("scale", "x", x);
  NEFT_DISPATCH(x.device(), scale, x, alpha);
}

void axpy(float alpha, const Tensor& x, Tensor& y) {
  const Device d = common_device("axpy", {&x, &y});
  check_float_for_device("axpy", "x", x);
  check_float_for_device("axpy", "y", y);
  if (x.numel() != y.numel())
    fail("axpy: x ", x.str(), " and y ", y.str(), " differ in element count");
  NEFT_DISPATCH(d, axpy, alpha, x, y);
}

void fill_uniform(Tensor& x, uint64_t seed, uint64_t offset, float lo, float hi) {
  check_float_for_device("fill_uniform", "x", x);
  NEFT_DISPATCH(x.device(), fill_uniform, x, seed, offset, lo, hi);
}

void fill_normal(Tensor& x, uint64_t seed, uint64_t offset, float mean, float stddev) {
  check_float_for_device("fill_normal", "x", x);
  NEFT_DISPATCH(x.device(), fill_normal, x, seed, offset, mean, stddev);
}

void dropout(const Tensor& x, const DropoutMask& mask, Tensor& out) {
  const Device d = common_device("dropout", {&x, &out});
  check_float_for_device("dropout", "x", x);
  check_rank("dropout", "x", x, 2, "[rows, cols]");
  check_shape("dropout", "out", out, x.shape());
  check_dtype("dropout", "out", out, {x.dtype()});
  if (!(mask.p >= 0.0f && mask.p < 1.0f)) fail("dropout: p ", mask.p, " is not in [0, 1)");
  if (mask.col0 < 0 || mask.col0 + x.size(1) > mask.full_cols)
    fail("dropout: columns [", mask.col0, ", ", mask.col0 + x.size(1), ") of x ", x.str(),
         " lie outside the mask's ", mask.full_cols);
  NEFT_DISPATCH(d, dropout, x, mask, out);
}

}  // namespace neft::ops
