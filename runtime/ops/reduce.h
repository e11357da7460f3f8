// Whole-tensor reductions, for global gradient norms.
// CPU: f32, accumulated in double in fixed chunks (the same result for any thread count).
// CUDA: f32/bf16/f16 input, fp32 arithmetic, a two-level block reduction in a fixed order
// whose shape depends only on the element count: the same bits every run.
#pragma once
#include "runtime/tensor.h"

namespace neft::ops {

// out[0] = sum of x^2 over all elements of x (any shape), or out[0] += that with accumulate
// (one norm over many tensors). out: [1] f32 on x's device.
void sum_squares(const Tensor& x, Tensor& out, bool accumulate = false);

template <Device D>
void sum_squares(const Tensor& x, Tensor& out, bool accumulate);

}  // namespace neft::ops
