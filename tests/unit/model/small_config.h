// The small Llama shape the model tests share: two layers, grouped-query attention (4 heads,
// 2 kv heads), sizes that tp 2 divides, small enough for finite differences.
#pragma once
#include "model/config.h"

namespace neft::testing {

inline model::LlamaConfig small_llama_config(bool tied) {
  model::LlamaConfig c;
  c.name = "test";
  c.hidden = 32;
  c.intermediate = 48;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.vocab = 24;
  c.max_positions = 64;
  c.rms_eps = 1e-5f;
  c.tied_embeddings = tied;
  return c;
}

}  // namespace neft::testing
