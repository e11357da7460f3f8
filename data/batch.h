// Batch: what the training loop feeds the model for one micro-batch. Every array is [B, T]
// row-major; targets[b, t] is the token the model should predict at position t (the next
// token), or kIgnoreIndex where no loss is taken (prompt, padding).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace neft::data {

constexpr int32_t kIgnoreIndex = -100;

struct Batch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> tokens;     // [B, T]
  std::vector<int32_t> targets;    // [B, T], kIgnoreIndex = no loss
  std::vector<int32_t> positions;  // [B, T], restart at 0 with each document / example
  std::vector<int32_t> task;       // [B], -1 if the row has no single task
  // Tokens that are not padding, as the sources fill the rows; -1 for a batch made by hand,
  // all of whose B x T tokens count.
  int64_t real = -1;

  // A B x T batch of padding: tokens 0, no targets, positions 0, no task.
  static Batch padded(int64_t B, int64_t T);
  // Positions that carry a loss (targets != kIgnoreIndex).
  int64_t counted() const;
  // Tokens that are not padding: what throughput counts.
  int64_t real_tokens() const { return real < 0 ? B * T : real; }
};

// A batch as the model takes it: tokens, targets and positions as [B, T] i32 tensors.
struct BatchTensors {
  Tensor tokens, targets, positions;
};
BatchTensors to_tensors(const Batch& b, Device device);

}  // namespace neft::data
