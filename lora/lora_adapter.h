// One LoRA adapter (Hu et al. 2021) in a parallel linear layer's slot (model/linear_adapter.h):
//   y += (alpha / r) * (x Aᵀ) Bᵀ,   A [r, in], B [out, r]
// as PEFT computes it, with PEFT's dropout on x in training (lora/lora_dropout.h). Under tensor
// parallelism it is sharded as PEFT's LoraParallelLinear shards it, so that it adds no all-reduce
// of activations but one of [tokens, r] per layer:
//   column-parallel base (q, k, v, gate, up: each rank holds out/tp rows of W): A whole on
//     every rank, B's matching out/tp rows. Forward needs nothing; backward all-reduces
//     dU = (alpha/r) dy B [N, r] over the group, since each rank holds part of dy, before
//     A's gradient dUᵀ x (the same on every rank, as A is).
//   row-parallel base (o, down: each rank holds in/tp columns of W): A's matching in/tp
//     columns, B whole. Forward all-reduces U = x Aᵀ [N, r] (each rank holds part of x);
//     backward needs nothing. Under sequence parallelism the base's output is this rank's
//     tokens: the adapter adds U's rows of them, and its backward reads the gathered dy.
// Megatron-Bridge's ParallelLinearAdapter shards the other way round for a row-parallel base
// (A whole, its input gathered), which moves [N, in] instead of [N, r]; PEFT's way moves r
// columns per layer, r << in, so it is the one here.
//
// A and B are Parameters with HF-style names (`<base>.lora_A.weight`, `<base>.lora_B.weight`,
// the base's name without ".weight" in front) and shard_dim set as above, so optimizer,
// gradient sync, clipping and checkpoints treat them as any weight. Training state per rank:
// the adapter's A and B shards, 12 bytes a parameter with AdamW, ∝ r (in + out / tp) for a
// column base.
#pragma once
#include <string>
#include <vector>

#include "lora/lora_dropout.h"
#include "model/linear_adapter.h"
#include "model/tensor_parallel.h"
#include "runtime/parameter.h"

namespace neft::lora {

enum class BaseLayer { Column, Row };

class LoraAdapter : public model::LinearAdapter {
 public:
  // `base`: the base weight (its name, whole shape [out, in], shard_dim and offset);
  // A and B are allocated on its device in its dtype, uninitialised.
  LoraAdapter(const Parameter& base, BaseLayer layer, const model::TensorParallel& tp, int64_t rank,
              double alpha);

  void forward(const Tensor& x, Tensor& y) override;
  void backward(const Tensor& dy, const Tensor& x, Tensor* dx) override;
  ParameterList parameters() override { return {&a_, &b_}; }
  // Dropout on x in the training forwards from here on (none until set).
  void set_dropout(InputDropout dropout) { dropout_ = std::move(dropout); }
  // The model's activation slot (LlamaModel::use_activation_slot; it outlives the adapter):
  // the adapter keeps each slot's U and mask, so that a micro-batch's backward reads its own
  // forward's while others run in between (a pipeline stage). Unset: one, slot 0.
  void set_activation_slot(const size_t* slot) { slot_ = slot; }

  Parameter& a() { return a_; }
  Parameter& b() { return b_; }
  float scaling() const { return scaling_; }

 private:
  const BaseLayer layer_;
  const model::TensorParallel* tp_;
  const float scaling_;  // alpha / r
  Parameter a_, b_;
  // What a slot's last forward leaves for its backward.
  struct Kept {
    Tensor u;                              // [N, r]: x Aᵀ
    std::optional<ops::DropoutMask> mask;  // if it dropped
  };
  std::vector<Kept> kept_;  // per activation slot
  const size_t* slot_ = nullptr;
  Tensor du_;  // [N, r]: U's gradient, in backward
  InputDropout dropout_;

  Kept& kept();
  // dropout(t) with `mask`, in the shared buffer.
  Tensor dropped(const Tensor& t, const ops::DropoutMask& mask);
};

// "model.layers.0.self_attn.q_proj.weight" -> "model.layers.0.self_attn.q_proj.lora_A.weight".
std::string lora_name(const std::string& base_name, char which);

}  // namespace neft::lora
