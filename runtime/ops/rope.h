// Rotary position embedding, Hugging Face Llama convention (rotate_half: the pairs are
// (i, i + D/2), not interleaved). For i < D/2, in fp32:
//   f_i = 1.0f / powf(theta, float(2 * i) / float(D)),  a = float(pos) * f_i,
//   y[i] = x[i] cos a - x[i + D/2] sin a,  y[i + D/2] = x[i + D/2] cos a + x[i] sin a.
// x, y, dy, dx: [N, H, D] (N tokens, H heads, D even, at most kRopeMaxHeadDim), one float
// dtype; positions: [N] i32. The model views [B, T, H, D] activations as [B*T, H, D].
// Both devices take f_i from the host's powf, so CPU and CUDA rotate by the same angles.
#pragma once
#include <cmath>

#include "runtime/tensor.h"

namespace neft::ops {

constexpr int64_t kRopeMaxHeadDim = 1024;

// f_i above, computed on the host (the CUDA path passes the table to its kernel).
inline float rope_inv_freq(float theta, int64_t i, int64_t head_dim) {
  return 1.0f / std::pow(theta, float(2 * i) / float(head_dim));
}

// Overwrites y; y may be x (in place).
void rope_forward(const Tensor& x, const Tensor& positions, float theta, Tensor& y);
// The transpose rotation (by -a); overwrites dx; dx may be dy (in place).
void rope_backward(const Tensor& dy, const Tensor& positions, float theta, Tensor& dx);

// Both directions are one backend routine: rotation by sign * a (+1 forward, -1 backward).
template <Device D>
void rope_rotate(const Tensor& x, const Tensor& positions, float theta, float sign, Tensor& y);

}  // namespace neft::ops
