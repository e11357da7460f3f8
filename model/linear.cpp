#include "model/linear.h"

#include "runtime/ops/gather_scatter.h"
#include "runtime/ops/gemm.h"

namespace neft::model {

void linear_forward(const Tensor& x, const Parameter& w, Tensor& y) {
  ops::gemm(x, false, w.value, true, y);
}

void linear_backward(const Tensor& dy, const Tensor& x, Parameter& w, Tensor* dx,
                     bool accumulate_dx) {
  if (dx) ops::gemm(dy, false, w.value, false, *dx, 1.0f, accumulate_dx ? 1.0f : 0.0f);
  if (!w.grad.defined()) return;
  if (!w.neuron_level()) {
    ops::gemm(dy, true, x, false, w.grad, 1.0f, 1.0f);  // dW += dyᵀ x
    return;
  }
  // Selected neurons only. A row neuron k (axis 0) is output unit S[k]: dW[S] = dy[:, S]ᵀ x.
  // A column neuron (axis 1) is input unit S[k], kept transposed: dWᵀ[S] = x[:, S]ᵀ dy.
  const int64_t K = w.neuron_index.numel();
  if (K == 0) return;
  const bool rows = w.neuron_axis == 0;
  const Tensor& selected_of = rows ? dy : x;
  Tensor picked =
      Tensor::empty({selected_of.size(0), K}, selected_of.dtype(), selected_of.device());
  ops::gather_cols(selected_of, w.neuron_index, picked);
  ops::gemm(picked, true, rows ? x : dy, false, w.grad, 1.0f, 1.0f);
}

}  // namespace neft::model
