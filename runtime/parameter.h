// A trainable weight as the model, the optimizer and the checkpoint code all see it: its
// Hugging Face name, its value in the model's dtype (f32 on CPU, bf16 on CUDA) and its
// gradient, always f32, which the backward pass accumulates into (+=).
#pragma once
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace neft {

struct Parameter {
  std::string name;   // HF name, e.g. "model.layers.0.mlp.up_proj.weight"
  Tensor value;       // [out, in] as HF stores it, or [C] for norms
  Tensor grad;        // f32, same shape; undefined when the parameter is frozen
  bool decay = true;  // AdamW weight decay applies (matrices yes, norm weights no)
  // Tensor parallelism: `value` holds rows (shard_dim 0) or columns (shard_dim 1)
  // [shard_offset, shard_offset + local size) of the whole HF tensor of full_shape;
  // shard_dim -1 means the whole tensor (replicated, or no tensor parallelism).
  int shard_dim = -1;
  int64_t shard_offset = 0;
  Shape full_shape;

  // Frozen parameters get no gradient (LlamaModel::zero_grad leaves grad undefined), so the
  // backward pass computes no weight gradient for them and the optimizer skips them.
  bool trainable = true;
  // Neuron-level training: only the neurons in neuron_index (i32 [K] on the value's device,
  // distinct local indices) train: rows of value (neuron_axis 0: q/k/v/gate/up) or its
  // columns (neuron_axis 1: o/down). grad is then compact, [K, the other dimension], a
  // column neuron's gradient kept transposed so that every neuron is one contiguous row.
  // Undefined: the whole tensor trains.
  Tensor neuron_index;
  int neuron_axis = 0;

  bool neuron_level() const { return neuron_index.defined(); }
  // The whole-tensor index of this rank's first neuron: its shard's offset when the tensor is
  // split along the neuron axis (Megatron's layout splits no neuron matrix the other way),
  // else 0.
  int64_t neuron_offset() const { return shard_dim == neuron_axis ? shard_offset : 0; }
  // The shape of the gradient (and of each optimizer state tensor): compact or whole.
  Shape grad_shape() const {
    if (!neuron_level()) return value.shape();
    return {neuron_index.numel(), value.size(neuron_axis == 0 ? 1 : 0)};
  }
};

using ParameterList = std::vector<Parameter*>;

// The selected neurons' entries of a neuron-level parameter's value, one row per neuron in
// neuron_index order (a column neuron transposed): grad_shape(), in the value's dtype, on the
// host. What the optimizer's master rows start from and what a sparse delta holds.
Tensor selected_rows(const Parameter& p);

}  // namespace neft
