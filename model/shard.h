// Moving between a whole HF tensor and a tensor-parallel rank's shard of it (the rows or
// columns Parameter::shard_dim and shard_offset name).
#pragma once
#include "runtime/parameter.h"

namespace neft::model {

// p.value = p's shard of `full` (a tensor of p.full_shape); the whole of it when unsharded.
void copy_shard(const Tensor& full, Parameter& p);

}  // namespace neft::model
