// Choosing the next token from a row of logits, as transformers' generate does: greedy
// (temperature 0), or sampling from softmax(logits / temperature) after keeping the top_k
// most likely tokens (0: all) and then the smallest set whose probability reaches top_p
// (1: all; at least one token is always kept). The draw for a prompt's n-th new token is the
// Philox stream (seed, prompt index, n), so a prompt's sample does not depend on the batch it
// shares or on the number of ranks.
#pragma once
#include <cstdint>
#include <span>

namespace neft::train {

struct SamplingOptions {
  double temperature = 0.0;  // 0: greedy
  int64_t top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;

  bool greedy() const { return temperature <= 0.0; }
  // One-line errors naming the option: temperature < 0, top_k < 0, top_p outside (0, 1].
  void validate() const;
};

// logits: one row of the whole vocabulary. `prompt` and `step` key the draw.
int32_t sample_token(std::span<const float> logits, const SamplingOptions& o, uint64_t prompt,
                     uint64_t step);

}  // namespace neft::train
