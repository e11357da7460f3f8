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
};

using ParameterList = std::vector<Parameter*>;

}  // namespace neft
