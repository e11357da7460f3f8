#include "model/linear.h"

#include "runtime/ops/gemm.h"

namespace neft::model {

void linear_forward(const Tensor& x, const Parameter& w, Tensor& y) {
  ops::gemm(x, false, w.value, true, y);
}

void linear_backward(const Tensor& dy, const Tensor& x, Parameter& w, Tensor* dx,
                     bool accumulate_dx) {
  if (dx) ops::gemm(dy, false, w.value, false, *dx, 1.0f, accumulate_dx ? 1.0f : 0.0f);
  if (w.grad.defined()) ops::gemm(dy, true, x, false, w.grad, 1.0f, 1.0f);
}

}  // namespace neft::model
