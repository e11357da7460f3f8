// One Llama decoder block with its explicit forward and backward:
//   mid = x + o_proj(attention(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1))),  n1 = rmsnorm1(x)
//   out = mid + down_proj(silu(gate_proj(n2)) * up_proj(n2)),                    n2 = rmsnorm2(mid)
// Attention is causal with grouped-query heads (kv_heads divides heads), within each token's
// document when a row packs several (TokenLayout::doc_start). Under tensor
// parallelism q/k/v and gate/up are column-parallel layers (this rank's heads and units), o
// and down row-parallel ones (model/parallel_linear.h); under sequence parallelism the norms
// and the residual adds run on this rank's tokens (model/tensor_parallel.h), the layers
// gathering and scattering them. Unit hooks (model/unit_hooks.h) see the units' outputs and
// gradients, every token's.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/parallel_linear.h"
#include "model/token_layout.h"
#include "model/unit_hooks.h"
#include "runtime/parameter.h"
#include "runtime/tensor.h"

namespace neft::model {

struct ModelOptions;
struct TensorParallel;

// What a block's backward needs from its forward (N = B*T tokens; Nl = N, or N / tp when
// sequence parallelism splits the tokens: TensorParallel::tokens).
struct BlockActivations {
  Tensor n1, rstd1;    // [Nl, C], [Nl]
  Tensor q, k, v;      // [N, q_dim], [N, kv_dim] x2; q and k after RoPE
  Tensor att, lse;     // [N, q_dim], [B, heads, T]
  Tensor mid;          // [Nl, C] residual after attention
  Tensor n2, rstd2;    // [Nl, C], [Nl]
  Tensor gate, up, h;  // [N, F]

  void allocate(const LlamaConfig& c, const TensorParallel& tp, int64_t B, int64_t T, Device device,
                DType dtype);
  size_t bytes() const;
};

// Gradient buffers one backward pass reuses for every block.
struct BlockScratch {
  Tensor dn;                // [Nl, C]
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
  // The adapters' parameters (model/linear_adapter.h), q, k, v, o, gate, up, down order.
  ParameterList adapter_parameters();
  // input_layernorm, post_attention_layernorm: the weights that act on this rank's tokens
  // alone under sequence parallelism.
  ParameterList norm_parameters() { return {&norm1_, &norm2_}; }

  // x [Nl, C] -> out [Nl, C] (a different buffer); fills a.
  void forward(const Tensor& x, const TokenLayout& tokens, BlockActivations& a, Tensor& out);
  // Inference over the next tokens.T columns of every row of a KV cache (kv_cache.h): their
  // keys and values go into k_cache, v_cache [B, capacity, kv heads, D] at columns
  // length - T .. length - 1, and attention reads the cache up to each query's column from
  // key_start. a is scratch for N = B * tokens.T; tokens.doc_start is unused.
  void forward_cached(const Tensor& x, const TokenLayout& tokens, Tensor& k_cache, Tensor& v_cache,
                      int64_t length, const Tensor& key_start, const Tensor& cache_rows,
                      BlockActivations& a, Tensor& out);
  // dres [Nl, C]: on entry the gradient of the block's output, on return that of its input x.
  // Without input_grad (nothing below the block trains) only what the block's trained
  // parameters need runs, and dres is left partly updated; hooks that want backward still
  // get every site's gradient.
  void backward(const Tensor& x, const TokenLayout& tokens, const BlockActivations& a,
                BlockScratch& s, Tensor& dres, bool input_grad = true);
  // Whether any parameter or adapter trains something on this rank: a neuron-level weight
  // only when it holds a selected neuron here.
  bool trains_anything();

  // Hooks on the units' outputs (null: none); not owned.
  void set_unit_hooks(UnitHooks* hooks) { hooks_ = hooks; }

  // The projections, for adapters: q, k, v; o; gate, up; down.
  ColumnParallelLinear& qkv() { return qkv_; }
  RowParallelLinear& o() { return o_; }
  ColumnParallelLinear& gate_up() { return gate_up_; }
  RowParallelLinear& down() { return down_; }

 private:
  // The two halves around attention: n1 = norm1(x) and q, k, v with RoPE; then
  // out = mid + MLP(norm2(mid)), mid = x + o_proj(att).
  void project_qkv(const Tensor& x, const TokenLayout& tokens, BlockActivations& a);
  void finish(const Tensor& x, BlockActivations& a, Tensor& out);

  void hook_forward(UnitSite site, Tensor& out) {
    if (hooks_) hooks_->forward(layer_, site, out);
  }

  const LlamaConfig& config_;
  const int64_t layer_;
  ColumnParallelLinear qkv_;
  RowParallelLinear o_;
  ColumnParallelLinear gate_up_;
  RowParallelLinear down_;
  Parameter norm1_, norm2_;
  UnitHooks* hooks_ = nullptr;
};

}  // namespace neft::model
