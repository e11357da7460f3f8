// AdamW, exactly as torch.optim.AdamW (decoupled weight decay, PyTorch's order of operations):
//   g = grad * grad_scale;  param *= 1 - lr * weight_decay;
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g;
//   bc1 = 1 - beta1^step;  bc2 = 1 - beta2^step;
//   denom = sqrt(v) / sqrt(bc2) + eps;  param -= (lr / bc1) * m / denom.
// The step-dependent scalars are computed in double on the host, as PyTorch does, and the
// element-wise update in fp32. param/master, m, v: f32. grad: f32 (also bf16/f16 on CUDA).
#pragma once
#include <cmath>
#include <cstdint>

#include "runtime/host_device.h"
#include "runtime/tensor.h"

namespace neft::ops {

struct AdamWParams {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  int64_t step = 1;         // 1-based, for bias correction
  float grad_scale = 1.0f;  // multiplies the gradient first: the clipping factor
};

// Dense update of param, m and v in place; all four tensors the same shape.
void adamw_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p);

// The same update on the compact state of K selected neurons, then the new master values
// are written into `weight`, converted to its dtype (f32 on CPU; f32/bf16/f16 on CUDA):
//   axis 0: weight [R, C], weight[idx[k], :] = master[k, :];
//   axis 1: weight [C, R], weight[:, idx[k]] = master[k, :] (the column neurons of
//           down_proj/o_proj, kept transposed so each neuron's state is one contiguous row).
// master, grad, m, v: [K, C]; idx: [K] i32, distinct, in [0, R) (checked on CPU; on CUDA the
// caller's duty). Entries of weight outside the selected neurons are not touched.
void adamw_update_rows(Tensor& master, const Tensor& grad, Tensor& m, Tensor& v,
                       const AdamWParams& p, const Tensor& idx, int axis, Tensor& weight);

// Shared by the two backends so that they do the same arithmetic in the same order.
namespace adamw_detail {

struct Scalars {
  float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps, scale;
};

// The per-step scalars in double, as PyTorch computes them from Python floats.
inline Scalars scalars(const AdamWParams& p) {
  const double bc1 = 1.0 - std::pow(double(p.beta1), double(p.step));
  const double bc2 = 1.0 - std::pow(double(p.beta2), double(p.step));
  return {float(1.0 - double(p.lr) * double(p.weight_decay)),
          p.beta1,
          float(1.0 - double(p.beta1)),
          p.beta2,
          float(1.0 - double(p.beta2)),
          float(double(p.lr) / bc1),
          float(std::sqrt(bc2)),
          p.eps,
          p.grad_scale};
}

// One element: returns the new parameter, updates m and v.
NEFT_HD float step(const Scalars& s, float param, float grad, float& m, float& v) {
  const float g = grad * s.scale;
  param *= s.decay;
  m = s.beta1 * m + s.one_minus_beta1 * g;
  v = s.beta2 * v + s.one_minus_beta2 * g * g;
  const float denom = sqrtf(v) / s.bc2_sqrt + s.eps;
  return param - s.step_size * (m / denom);
}

}  // namespace adamw_detail

template <Device D>
void adamw_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p);
template <Device D>
void adamw_update_rows(Tensor& master, const Tensor& grad, Tensor& m, Tensor& v,
                       const AdamWParams& p, const Tensor& idx, int axis, Tensor& weight);

}  // namespace neft::ops
