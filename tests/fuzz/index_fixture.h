// The sharded checkpoint that fuzz_index's inputs index, shared with the corpus generator so
// that the seed index files name its real shards and tensors.
#pragma once
#include <cstddef>

#include "model/safetensors.h"

namespace neft::fuzz {

// Small enough that save_safetensors_sharded makes two shards of these tensors.
inline constexpr size_t kIndexShardBytes = 32;

inline model::NamedTensors index_tensors() {
  return {{"model.embed_tokens.weight", Tensor::from_floats({1, 2, 3, 4, 5, 6}, {3, 2})},
          {"model.norm.weight", Tensor::from_floats({1, 1}, {2}, DType::BF16)},
          {"lm_head.weight", Tensor::from_floats({0.5f, -0.5f, 2, 4, 8, 16}, {2, 3}, DType::F16)},
          {"step", Tensor::from_ints({7}, {1})}};
}

}  // namespace neft::fuzz
