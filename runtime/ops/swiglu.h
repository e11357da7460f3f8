// SwiGLU, the Llama MLP's gating: h = silu(gate) * up, silu(g) = g * sigmoid(g).
// gate, up, h, dh, dgate, dup: [N, F], one float dtype (CPU f32; CUDA f32/bf16/f16, fp32
// arithmetic).
#pragma once
#include "runtime/tensor.h"

namespace neft::ops {

// Overwrites h; h may be gate or up.
void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& h);
// Overwrites dgate = dh * up * silu'(gate) and dup = dh * silu(gate); either may be dh.
void swiglu_backward(const Tensor& dh, const Tensor& gate, const Tensor& up, Tensor& dgate,
                     Tensor& dup);

template <Device D>
void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& h);
template <Device D>
void swiglu_backward(const Tensor& dh, const Tensor& gate, const Tensor& up, Tensor& dgate,
                     Tensor& dup);

}  // namespace neft::ops
