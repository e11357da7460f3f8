#include "model/block.h"

#include <string>

#include "model/llama.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/attention_cached.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/gather_scatter.h"
#include "runtime/ops/rmsnorm.h"
#include "runtime/ops/rope.h"
#include "runtime/ops/swiglu.h"

namespace neft::model {

namespace {
// This rank's widths: query and key/value rows (whole heads) and intermediate units.
struct LocalDims {
  int64_t heads, q, kv, ffn;
};
LocalDims local_dims(const LlamaConfig& c, const TensorParallel& tp) {
  const int64_t kv_heads = tp.local(c.kv_heads, "num_key_value_heads");
  const int64_t heads = tp.local(c.heads, "num_attention_heads");
  return {heads, heads * c.head_dim, kv_heads * c.head_dim,
          tp.local(c.intermediate, "intermediate_size")};
}

// A weight of `full` shape of which this rank holds `local` rows or columns (shard_dim 0 or
// 1) starting at `offset`, or all of it (shard_dim -1).
Parameter make_parameter(const std::string& name, const Shape& full, int shard_dim, int64_t local,
                         int64_t offset, const ModelOptions& o, bool decay) {
  Shape shape = full;
  if (shard_dim >= 0) shape[size_t(shard_dim)] = local;
  Parameter p{name, Tensor::empty(shape, o.dtype, o.device), Tensor(), decay};
  p.shard_dim = shard_dim;
  p.shard_offset = shard_dim >= 0 ? offset : 0;
  p.full_shape = full;
  return p;
}
// [N, H*D] as the [B, T, H, D] layout attention takes, or the [N, H, D] one RoPE takes.
Tensor heads4d(const Tensor& t, int64_t B, int64_t T, int64_t D) { return t.view({B, T, -1, D}); }
Tensor heads3d(const Tensor& t, int64_t D) { return t.view({t.size(0), -1, D}); }
}  // namespace

void BlockActivations::allocate(const LlamaConfig& c, const TensorParallel& tp, int64_t B,
                                int64_t T, Device device, DType dtype) {
  const int64_t N = B * T, Nl = tp.tokens(N);  // Nl: the norm and residual region's rows
  const LocalDims l = local_dims(c, tp);
  auto act = [&](int64_t cols) { return Tensor::empty({N, cols}, dtype, device); };
  auto region = [&] { return Tensor::empty({Nl, c.hidden}, dtype, device); };
  n1 = region();
  rstd1 = Tensor::empty({Nl}, DType::F32, device);
  q = act(l.q);
  k = act(l.kv);
  v = act(l.kv);
  att = act(l.q);
  lse = Tensor::empty({B, l.heads, T}, DType::F32, device);
  mid = region();
  n2 = region();
  rstd2 = Tensor::empty({Nl}, DType::F32, device);
  gate = act(l.ffn);
  up = act(l.ffn);
  h = act(l.ffn);
}

size_t BlockActivations::bytes() const {
  size_t total = 0;
  for (const Tensor* t : {&n1, &rstd1, &q, &k, &v, &att, &lse, &mid, &n2, &rstd2, &gate, &up, &h})
    total += t->defined() ? t->nbytes() : 0;
  return total;
}

void BlockScratch::allocate(const LlamaConfig& c, const TensorParallel& tp, int64_t B, int64_t T,
                            Device device, DType dtype) {
  const int64_t N = B * T;
  const LocalDims l = local_dims(c, tp);
  auto act = [&](int64_t cols) { return Tensor::empty({N, cols}, dtype, device); };
  dn = Tensor::empty({tp.tokens(N), c.hidden}, dtype, device);
  dq = act(l.q);
  dk = act(l.kv);
  dv = act(l.kv);
  datt = act(l.q);
  dgate = act(l.ffn);
  dup = act(l.ffn);
  dh = act(l.ffn);
  frozen_dnorm = Tensor::zeros({c.hidden}, DType::F32, device);
}

size_t BlockScratch::bytes() const {
  size_t total = 0;
  for (const Tensor* t : {&dn, &dq, &dk, &dv, &datt, &dgate, &dup, &dh, &frozen_dnorm})
    total += t->defined() ? t->nbytes() : 0;
  return total;
}

Block::Block(const LlamaConfig& c, int64_t layer, const ModelOptions& o)
    : config_(c), layer_(layer), qkv_(o.tp, {}), o_(o.tp, {}), gate_up_(o.tp, {}), down_(o.tp, {}) {
  const TensorParallel& tp = o.tp;
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  const LocalDims l = local_dims(c, tp);
  const int64_t q0 = tp.rank * l.q, kv0 = tp.rank * l.kv, f0 = tp.rank * l.ffn;
  const int rows = tp.size > 1 ? 0 : -1, cols = tp.size > 1 ? 1 : -1;
  auto weight = [&](const char* name, const Shape& full, int dim, int64_t local, int64_t offset) {
    return make_parameter(p + name, full, dim, local, offset, o, true);
  };
  qkv_ = ColumnParallelLinear(
      tp, {weight("self_attn.q_proj.weight", {c.q_dim(), c.hidden}, rows, l.q, q0),
           weight("self_attn.k_proj.weight", {c.kv_dim(), c.hidden}, rows, l.kv, kv0),
           weight("self_attn.v_proj.weight", {c.kv_dim(), c.hidden}, rows, l.kv, kv0)});
  o_ = RowParallelLinear(tp,
                         weight("self_attn.o_proj.weight", {c.hidden, c.q_dim()}, cols, l.q, q0));
  gate_up_ = ColumnParallelLinear(
      tp, {weight("mlp.gate_proj.weight", {c.intermediate, c.hidden}, rows, l.ffn, f0),
           weight("mlp.up_proj.weight", {c.intermediate, c.hidden}, rows, l.ffn, f0)});
  down_ = RowParallelLinear(
      tp, weight("mlp.down_proj.weight", {c.hidden, c.intermediate}, cols, l.ffn, f0));
  norm1_ = make_parameter(p + "input_layernorm.weight", {c.hidden}, -1, 0, 0, o, false);
  norm2_ = make_parameter(p + "post_attention_layernorm.weight", {c.hidden}, -1, 0, 0, o, false);
}

ParameterList Block::parameters() {
  return {&qkv_.part(0).weight,
          &qkv_.part(1).weight,
          &qkv_.part(2).weight,
          &o_.part().weight,
          &gate_up_.part(0).weight,
          &gate_up_.part(1).weight,
          &down_.part().weight,
          &norm1_,
          &norm2_};
}

ParameterList Block::adapter_parameters() {
  ParameterList all;
  for (LinearWeight* w : {&qkv_.part(0), &qkv_.part(1), &qkv_.part(2), &o_.part(),
                          &gate_up_.part(0), &gate_up_.part(1), &down_.part()})
    if (w->adapter)
      for (Parameter* p : w->adapter->parameters()) all.push_back(p);
  return all;
}

void Block::project_qkv(const Tensor& x, const TokenLayout& tokens, BlockActivations& a) {
  const LlamaConfig& c = config_;
  ops::rmsnorm_forward(x, norm1_.value, c.rms_eps, a.n1, a.rstd1);
  qkv_.forward(a.n1, {&a.q, &a.k, &a.v});
  hook_forward(UnitSite::Key, a.k);
  hook_forward(UnitSite::Value, a.v);
  Tensor q3 = heads3d(a.q, c.head_dim), k3 = heads3d(a.k, c.head_dim);
  ops::rope_forward(q3, tokens.positions, c.rope_theta, q3);
  ops::rope_forward(k3, tokens.positions, c.rope_theta, k3);
}

void Block::finish(const Tensor& x, BlockActivations& a, Tensor& out) {
  const LlamaConfig& c = config_;
  hook_forward(UnitSite::AttentionOutput, a.att);
  o_.forward(a.att, a.mid);
  ops::add(x, a.mid, a.mid);

  ops::rmsnorm_forward(a.mid, norm2_.value, c.rms_eps, a.n2, a.rstd2);
  gate_up_.forward(a.n2, {&a.gate, &a.up});
  ops::swiglu_forward(a.gate, a.up, a.h);
  hook_forward(UnitSite::FfnHidden, a.h);
  down_.forward(a.h, out);
  ops::add(a.mid, out, out);
}

void Block::forward(const Tensor& x, const TokenLayout& tokens, BlockActivations& a, Tensor& out) {
  const int64_t D = config_.head_dim, B = tokens.B, T = tokens.T;
  project_qkv(x, tokens, a);
  Tensor att4 = heads4d(a.att, B, T, D);
  ops::attention_forward(heads4d(a.q, B, T, D), heads4d(a.k, B, T, D), heads4d(a.v, B, T, D), att4,
                         a.lse, tokens.doc_start);
  finish(x, a, out);
}

void Block::forward_cached(const Tensor& x, const TokenLayout& tokens, Tensor& k_cache,
                           Tensor& v_cache, int64_t length, const Tensor& key_start,
                           const Tensor& cache_rows, BlockActivations& a, Tensor& out) {
  const int64_t D = config_.head_dim, B = tokens.B, T = tokens.T;
  project_qkv(x, tokens, a);
  // The new columns' keys and values into their cache rows ([B * capacity, kv_dim] view).
  const int64_t kv_dim = k_cache.size(2) * D, rows = k_cache.size(0) * k_cache.size(1);
  Tensor k_rows = k_cache.view({rows, kv_dim}), v_rows = v_cache.view({rows, kv_dim});
  ops::scatter_rows(a.k, cache_rows, k_rows);
  ops::scatter_rows(a.v, cache_rows, v_rows);
  Tensor att4 = heads4d(a.att, B, T, D);
  ops::attention_cached(heads4d(a.q, B, T, D), k_cache, v_cache, length, key_start, att4);
  finish(x, a, out);
}

bool Block::trains_anything() {
  for (Parameter* p : parameters())
    if (p->trainable && !(p->neuron_level() && p->neuron_index.numel() == 0)) return true;
  for (Parameter* p : adapter_parameters())
    if (p->trainable) return true;
  return false;
}

void Block::backward(const Tensor& x, const TokenLayout& tokens, const BlockActivations& a,
                     BlockScratch& s, Tensor& dres, bool input_grad) {
  const LlamaConfig& c = config_;
  const int64_t D = c.head_dim, B = tokens.B, T = tokens.T;
  const Tensor& positions = tokens.positions;
  UnitHooks* hooks = hooks_ && hooks_->wants_backward() ? hooks_ : nullptr;
  // Without the input's gradient, each step below runs only while something before it (in
  // backward order) still trains. The decisions read trainable flags alone, which every rank
  // of a tensor-parallel group shares, so the layers' collectives stay matched.
  const bool all = input_grad || hooks != nullptr;
  const bool attention = all || qkv_.trains() || o_.trains() || norm1_.trainable;
  const bool mid_grad = attention || norm2_.trainable;             // d(mid) through norm2
  const bool hidden_grad = mid_grad || gate_up_.trains();          // dh, dgate, dup
  const bool att_grad = all || qkv_.trains() || norm1_.trainable;  // datt, dq, dk, dv
  const bool norm1_grad = all || norm1_.trainable;                 // qkv's input gradient

  // MLP branch: dres holds d(out), which is also d(mid) through the residual.
  if (hidden_grad || down_.trains()) down_.backward(dres, a.h, hidden_grad ? &s.dh : nullptr);
  if (!hidden_grad) return;
  if (hooks) hooks->backward(layer_, UnitSite::FfnHidden, a.h, s.dh);
  ops::swiglu_backward(s.dh, a.gate, a.up, s.dgate, s.dup);
  gate_up_.backward({&s.dgate, &s.dup}, a.n2, mid_grad ? &s.dn : nullptr);
  if (!mid_grad) return;
  ops::rmsnorm_backward(s.dn, a.mid, norm2_.value, a.rstd2, s.dn, s.norm_grad(norm2_));
  ops::add(dres, s.dn, dres);
  if (!attention) return;

  // Attention branch: dres now holds d(mid), which is also d(x) through the residual.
  o_.backward(dres, a.att, att_grad ? &s.datt : nullptr);
  if (!att_grad) return;
  if (hooks) hooks->backward(layer_, UnitSite::AttentionOutput, a.att, s.datt);
  Tensor dq4 = heads4d(s.dq, B, T, D), dk4 = heads4d(s.dk, B, T, D), dv4 = heads4d(s.dv, B, T, D);
  ops::attention_backward(heads4d(s.datt, B, T, D), heads4d(a.q, B, T, D), heads4d(a.k, B, T, D),
                          heads4d(a.v, B, T, D), heads4d(a.att, B, T, D), a.lse, dq4, dk4, dv4,
                          tokens.doc_start);
  Tensor dq3 = heads3d(s.dq, D), dk3 = heads3d(s.dk, D);
  ops::rope_backward(dq3, positions, c.rope_theta, dq3);
  ops::rope_backward(dk3, positions, c.rope_theta, dk3);
  if (hooks) {
    // The Key site is k before RoPE, paired with dk now that it is the pre-RoPE gradient.
    // RoPE is a rotation, so its transpose (rope_backward) undoes it on a copy of the saved
    // post-RoPE k.
    Tensor k_pre = a.k.clone(), k_pre3 = heads3d(k_pre, D);
    ops::rope_backward(k_pre3, positions, c.rope_theta, k_pre3);
    hooks->backward(layer_, UnitSite::Key, k_pre, s.dk);
    hooks->backward(layer_, UnitSite::Value, a.v, s.dv);
  }
  qkv_.backward({&s.dq, &s.dk, &s.dv}, a.n1, norm1_grad ? &s.dn : nullptr);
  if (!norm1_grad) return;
  ops::rmsnorm_backward(s.dn, x, norm1_.value, a.rstd1, s.dn, s.norm_grad(norm1_));
  if (all) ops::add(dres, s.dn, dres);
}

}  // namespace neft::model
