// Moving between a whole HF tensor and a tensor-parallel rank's shard of it (the rows or
// columns Parameter::shard_dim and shard_offset name).
#pragma once
#include <string>

#include "model/safetensors.h"
#include "runtime/parameter.h"

namespace neft::model {

// p.value = p's shard of `full` (a tensor of p.full_shape); the whole of it when unsharded.
void copy_shard(const Tensor& full, Parameter& p);

// p's shard of the whole tensor `name` in `checkpoint` (which must have p.full_shape), read
// from the mapped file without reading the rest: the shard of the weight itself, or of
// optimizer state laid out like it. Fails naming the checkpoint and the tensor.
Tensor read_shard(const Checkpoint& checkpoint, const std::string& name, const Parameter& p,
                  DType dtype, Device device);

}  // namespace neft::model
