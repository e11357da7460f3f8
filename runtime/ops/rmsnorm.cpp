#include "runtime/ops/rmsnorm.h"

#include "runtime/ops/dispatch.h"

namespace neft::ops {

namespace {
// x is [N, C]; returns C.
int64_t check_rows(const char* op, const char* name, const Tensor& x) {
  check_rank(op, name, x, 2, "[N, C]");
  return x.size(1);
}
}  // namespace

void rmsnorm_forward(const Tensor& x, const Tensor& weight, float eps, Tensor& y, Tensor& rstd) {
  const char* op = "rmsnorm_forward";
  const int64_t c = check_rows(op, "x", x);
  const Device d = common_device(op, {&x, &weight, &y, &rstd});
  check_shape(op, "weight", weight, {c});
  check_shape(op, "y", y, x.shape());
  check_shape(op, "rstd", rstd, {x.size(0)});
  check_float_for_device(op, "x", x);
  check_float_for_device(op, "weight", weight);
  check_dtype(op, "y", y, {x.dtype()});
  check_dtype(op, "rstd", rstd, {DType::F32});
  if (!(eps >= 0.0f)) fail(op, ": eps must be >= 0, got ", eps);
  NEFT_DISPATCH(d, rmsnorm_forward, x, weight, eps, y, rstd);
}

void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& rstd,
                      Tensor& dx, Tensor& dweight) {
  const char* op = "rmsnorm_backward";
  const int64_t c = check_rows(op, "x", x);
  const Device d = common_device(op, {&dy, &x, &weight, &rstd, &dx, &dweight});
  check_shape(op, "dy", dy, x.shape());
  check_shape(op, "weight", weight, {c});
  check_shape(op, "rstd", rstd, {x.size(0)});
  check_shape(op, "dx", dx, x.shape());
  check_shape(op, "dweight", dweight, {c});
  check_float_for_device(op, "x", x);
  check_float_for_device(op, "weight", weight);
  check_float_for_device(op, "dweight", dweight);
  check_dtype(op, "dy", dy, {x.dtype()});
  check_dtype(op, "dx", dx, {x.dtype()});
  check_dtype(op, "rstd", rstd, {DType::F32});
  NEFT_DISPATCH(d, rmsnorm_backward, dy, x, weight, rstd, dx, dweight);
}

}  // namespace neft::ops
