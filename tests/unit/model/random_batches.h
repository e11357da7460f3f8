// Random micro-batches for the model tests: token ids and targets drawn from the vocabulary,
// every `ignore_every`-th target ignored (as prompt positions are), positions 0..T-1 per row.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "data/batch.h"
#include "model/config.h"

namespace neft::testing {

inline std::vector<data::Batch> random_batches(const model::LlamaConfig& c, int count,
                                               uint32_t seed, int64_t B = 2, int64_t T = 7,
                                               size_t ignore_every = 5) {
  std::mt19937 rng(seed);
  std::vector<data::Batch> out;
  for (int i = 0; i < count; ++i) {
    data::Batch b = data::Batch::padded(B, T);
    for (size_t j = 0; j < b.tokens.size(); ++j) {
      b.tokens[j] = int32_t(rng() % uint32_t(c.vocab));
      b.targets[j] =
          j % ignore_every == 0 ? data::kIgnoreIndex : int32_t(rng() % uint32_t(c.vocab));
      b.positions[j] = int32_t(j % size_t(T));
    }
    out.push_back(b);
  }
  return out;
}

}  // namespace neft::testing
