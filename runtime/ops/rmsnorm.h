// RMSNorm over the last dimension, as Hugging Face's LlamaRMSNorm (computed in fp32):
//   y = x * rstd * weight,  rstd = 1 / sqrt(mean(x^2) + eps).
// x, y, dy, dx: [N, C], one dtype; weight: [C]; rstd: [N] f32 (saved for backward).
// CPU: f32 throughout. CUDA: x and weight each f32, bf16 or f16 (weight may differ from x);
// dweight may be f32 while weight is bf16 (main gradients). One block per row; dweight is
// reduced over rows in a fixed order, so results are bitwise reproducible.
#pragma once
#include "runtime/tensor.h"

namespace neft::ops {

// Overwrites y and rstd.
void rmsnorm_forward(const Tensor& x, const Tensor& weight, float eps, Tensor& y, Tensor& rstd);
// Overwrites dx (dx may be dy); accumulates dweight += sum over rows of dy * x * rstd.
void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& rstd,
                      Tensor& dx, Tensor& dweight);

template <Device D>
void rmsnorm_forward(const Tensor& x, const Tensor& weight, float eps, Tensor& y, Tensor& rstd);
template <Device D>
void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& rstd,
                      Tensor& dx, Tensor& dweight);

}  // namespace neft::ops
