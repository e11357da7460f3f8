// The rank files that fuzz_checkpoint_index's inputs index (train/sharded_checkpoint.h), shared
// with the corpus generator so that the seed indexes name their real files and tensors: a
// weight "w" [4, 3] split by rows over two files, and rows of three neurons of a matrix "p"
// (8 neurons of 3) kept by neuron, two in the first file and one in the second.
#pragma once
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "model/safetensors.h"

namespace neft::fuzz {

inline void write_checkpoint_rank_files(const std::filesystem::path& dir) {
  model::save_safetensors((dir / "rank-00000.safetensors").string(),
                          {{"w", Tensor::from_floats({1, 2, 3, 4, 5, 6}, {2, 3})},
                           {"p.neurons", Tensor::from_ints({0, 3}, {2})},
                           {"p.rows", Tensor::from_floats({7, 8, 9, 10, 11, 12}, {2, 3})}});
  model::save_safetensors((dir / "rank-00001.safetensors").string(),
                          {{"w", Tensor::from_floats({-1, -2, -3, -4, -5, -6}, {2, 3})},
                           {"p.neurons", Tensor::from_ints({5}, {1})},
                           {"p.rows", Tensor::from_floats({13, 14, 15}, {1, 3})}});
}

// The index of those files, as the writer makes it.
inline nlohmann::json checkpoint_index() {
  return nlohmann::json::parse(R"({"format": "neft-sharded", "version": 1, "tensors": {
    "w": {"dtype": "f32", "shape": [4, 3], "slices": [
      {"file": "rank-00000.safetensors", "offset": [0, 0]},
      {"file": "rank-00001.safetensors", "offset": [2, 0]}]},
    "p.rows": {"dtype": "f32", "rows_of": "p", "axis": 0, "neurons": 8, "cols": 3,
      "files": ["rank-00000.safetensors", "rank-00001.safetensors"]}}})");
}

}  // namespace neft::fuzz
