// Causal self-attention with grouped-query heads, forward and backward.
//
// Layout [B, T, H, D] is what the q/k/v projections produce ([tokens, heads * head_dim]),
// so the model needs no transposes. Scores are scaled by 1/sqrt(D); query head h reads kv
// head h / (Hq / Hkv). Neither backend materialises the T x T score matrix: the CPU
// works on 64 x 64 tiles of queries x keys with an online softmax, CUDA is a
// FlashAttention-2 style fused kernel.
//
// CPU: f32. CUDA: f32/bf16/f16 storage (q, k, v, out, dout, dq, dk, dv one dtype), fp32
// arithmetic, head dim D in {16, 32, 64, 80, 96, 128}. CUDA gradients are deterministic:
// dK/dV are reduced per key tile over the whole query group in a fixed order and dQ has
// its own kernel over query tiles (no atomics).
#pragma once
#include "runtime/tensor.h"

namespace neft::ops {

// q: [B, T, Hq, D]; k, v: [B, T, Hkv, D] with Hq % Hkv == 0. Overwrites out [B, T, Hq, D]
// (q's dtype) and lse [B, Hq, T] f32, the log-sum-exp of each query's scaled scores, which
// backward uses to recompute the probabilities.
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, Tensor& lse);

// out and lse from attention_forward. Overwrites dq [B, T, Hq, D] and dk, dv
// [B, T, Hkv, D] (each kv head's gradient sums over the query heads of its group).
void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, Tensor& dq, Tensor& dk, Tensor& dv);

template <Device D>
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, Tensor& lse);
template <Device D>
void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, Tensor& dq, Tensor& dk, Tensor& dv);

}  // namespace neft::ops
