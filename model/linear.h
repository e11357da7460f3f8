// The bias-free linear layer every Llama projection is: y = x Wᵀ with W [out, in] as HF
// stores it. Backward computes the input gradient with the full W and the weight gradient
// only when the weight is trained (it has a grad), so frozen weights cost no GEMM.
#pragma once
#include "runtime/parameter.h"
#include "runtime/tensor.h"

namespace neft::model {

// x [N, in] -> y [N, out], overwritten.
void linear_forward(const Tensor& x, const Parameter& w, Tensor& y);
// dx = dy W (or dx += dy W when accumulate_dx); w.grad += dyᵀ x when w has a gradient.
// dx may be null when the input gradient is not needed (the first layer's input).
void linear_backward(const Tensor& dy, const Tensor& x, Parameter& w, Tensor* dx,
                     bool accumulate_dx);

}  // namespace neft::model
