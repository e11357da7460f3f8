// The keys and values generation keeps per layer, so that each new token attends to the
// ones before it without recomputing them (ops/attention_cached.h). Rows are left-padded:
// row b's text starts at column key_start[b], and every row's next token goes in column
// `length`. Under tensor parallelism a rank caches only its own kv heads.
//
// Cost per rank: 2 x layers x B x capacity x kv_dim / tp elements of the model dtype (135M
// SmolLM2, B 8, 2048 tokens, f32: 30 layers x 2 x 8 x 2048 x 192 x 4 B = 755 MB).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace neft::model {

struct KvCache {
  int64_t B = 0, capacity = 0;
  int64_t length = 0;        // columns filled, the same in every row
  std::vector<Tensor> k, v;  // per layer of the model: [B, capacity, local kv heads, head_dim]
  Tensor key_start;          // [B] i32 on the model's device

  size_t bytes() const {
    size_t total = 0;
    for (const auto* list : {&k, &v})
      for (const Tensor& t : *list) total += t.nbytes();
    return total;
  }
};

}  // namespace neft::model
