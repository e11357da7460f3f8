// One Llama decoder block with its explicit forward and backward:
//   mid = x + o_proj(attention(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1))),  n1 = rmsnorm1(x)
//   out = mid + down_proj(silu(gate_proj(n2)) * up_proj(n2)),                    n2 = rmsnorm2(mid)
// Attention is causal with grouped-query heads (kv_heads divides heads), within each token's
// document when a row packs several (TokenLayout::doc_start). Under tensor
// parallelism q/k/v/gate/up are column-parallel (this rank's heads and units), o/down
// row-parallel with their partial outputs all-reduced, and the inputs' gradients of the
// column-parallel layers all-reduced in backward (Megatron's f and g).
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/token_layout.h"
#include "runtime/parameter.h"
#include "runtime/tensor.h"

namespace neft::model {

struct ModelOptions;
struct TensorParallel;
struct UnitAttribution;

// What a block's backward needs from its forward (N = B*T tokens).
struct BlockActivations {
  Tensor n1, rstd1;    // [N, C], [N]
  Tensor q, k, v;      // [N, q_dim], [N, kv_dim] x2; q and k after RoPE
  Tensor att, lse;     // [N, q_dim], [B, heads, T]
  Tensor mid;          // [N, C] residual after attention
  Tensor n2, rstd2;    // [N, C], [N]
  Tensor gate, up, h;  // [N, F]

  void allocate(const LlamaConfig& c, const TensorParallel& tp, int64_t B, int64_t T, Device device,
                DType dtype);
  size_t bytes() const;
};

// Gradient buffers one backward pass reuses for every block.
struct BlockScratch {
  Tensor dn;                // [N, C]
  Tensor dq, dk, dv, datt;  // [N, q_dim], [N, kv_dim] x2, [N, q_dim]
  Tensor dgate, dup, dh;    // [N, F]
  Tensor frozen_dnorm;      // [C] f32: where a frozen norm's weight gradient goes

  // The norm's weight gradient, or frozen_dnorm when the norm is frozen (the op always
  // writes one).
  Tensor& norm_grad(Parameter& norm) { return norm.grad.defined() ? norm.grad : frozen_dnorm; }

  void allocate(const LlamaConfig& c, const TensorParallel& tp, int64_t B, int64_t T, Device device,
                DType dtype);
  size_t bytes() const;
};

class Block {
 public:
  // With tensor parallelism the block holds this rank's heads and intermediate units.
  Block(const LlamaConfig& config, int64_t layer, const ModelOptions& options);

  static constexpr size_t kParameters = 9;
  // HF order: self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, input_layernorm,
  // post_attention_layernorm.
  ParameterList parameters();

  // x [N, C] -> out [N, C] (a different buffer); fills a.
  void forward(const Tensor& x, const TokenLayout& tokens, BlockActivations& a, Tensor& out);
  // Inference over the next tokens.T columns of every row of a KV cache (kv_cache.h): their
  // keys and values go into k_cache, v_cache [B, capacity, kv heads, D] at columns
  // length - T .. length - 1, and attention reads the cache up to each query's column from
  // key_start. a is scratch for N = B * tokens.T; tokens.doc_start is unused.
  void forward_cached(const Tensor& x, const TokenLayout& tokens, Tensor& k_cache, Tensor& v_cache,
                      int64_t length, const Tensor& key_start, const Tensor& cache_rows,
                      BlockActivations& a, Tensor& out);
  // dres [N, C]: on entry the gradient of the block's output, on return that of its input x.
  void backward(const Tensor& x, const TokenLayout& tokens, const BlockActivations& a,
                BlockScratch& s, Tensor& dres);

  // While `acc` is set, backward adds each local unit's attribution into it (llama.h).
  void set_attribution(UnitAttribution* acc, bool absolute) {
    attribution_ = acc;
    attribution_absolute_ = absolute;
  }

 private:
  // The two halves around attention: n1 = norm1(x) and q, k, v with RoPE; then
  // out = mid + MLP(norm2(mid)), mid = x + o_proj(att).
  void project_qkv(const Tensor& x, const TokenLayout& tokens, BlockActivations& a);
  void finish(const Tensor& x, BlockActivations& a, Tensor& out);

  const LlamaConfig& config_;
  const TensorParallel& tp_;
  Parameter q_, k_, v_, o_, gate_, up_, down_, norm1_, norm2_;
  UnitAttribution* attribution_ = nullptr;
  bool attribution_absolute_ = true;
};

}  // namespace neft::model
