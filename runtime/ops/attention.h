// Causal self-attention with grouped-query heads, forward and backward, optionally masked to
// documents: with doc_start, a row may hold several packed examples and each query sees
// only the keys of its own, from its document's first token to itself.
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
//
// doc_start [B, T] i32 (see document_starts.h), or undefined for plain causal attention:
// query t of row b sees the keys doc_start[b, t] <= j <= t. Within a row it must not
// decrease and must satisfy 0 <= doc_start[b, t] <= t (documents are contiguous runs), which
// the kernels rely on to skip whole tiles; a CPU tensor is checked, a CUDA one is trusted
// (document_starts makes it so).
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, Tensor& lse,
                       const Tensor& doc_start = {});

// out and lse from attention_forward with the same doc_start. Overwrites dq [B, T, Hq, D] and
// dk, dv [B, T, Hkv, D] (each kv head's gradient sums over the query heads of its group).
void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, Tensor& dq, Tensor& dk, Tensor& dv,
                        const Tensor& doc_start = {});

template <Device D>
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, Tensor& lse,
                       const Tensor& doc_start);
template <Device D>
void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, Tensor& dq, Tensor& dk, Tensor& dv,
                        const Tensor& doc_start);

}  // namespace neft::ops
