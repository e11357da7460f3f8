// What one micro-batch's forward on a model (or pipeline stage) leaves for its backward: the
// token layout, the residual stream at each block boundary, each block's activations (none
// with recompute: backward runs each block again from its input, into one set the model
// shares) and the micro-batch key the forward drew its masks with. A pipeline stage keeps one
// per micro-batch in flight (train/train_step.cpp), so no forward runs twice; the gradient
// scratch stays the model's, one set for every micro-batch.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "model/block.h"
#include "model/micro_batch_key.h"
#include "model/token_layout.h"
#include "runtime/tensor.h"

namespace neft::model {

struct StageActivations {
  int64_t B = 0, T = 0;              // the shape the buffers are allocated for
  Tensor tokens, targets;            // [N] views of the forward's inputs
  TokenLayout layout;                // the forward's positions and document starts
  std::vector<Tensor> block_inputs;  // [layers + 1] residual stream at each block boundary
  std::vector<std::unique_ptr<BlockActivations>> blocks;  // per block; empty with recompute
  // The last stage's head: the final norm's output [N, hidden] (every token) and rstd [Nl],
  // the logits [N, V_local], the per-token losses and log-sum-exps [N] f32.
  Tensor final_normed, final_rstd, logits, losses, lse;
  std::optional<MicroBatchKey> key;  // the forward's: backward draws the same masks

  size_t bytes() const {
    size_t total = 0;
    for (const Tensor& t : block_inputs) total += t.nbytes();
    for (const auto& a : blocks) total += a->bytes();
    for (const Tensor* t : {&final_normed, &final_rstd, &logits, &losses, &lse})
      total += t->defined() ? t->nbytes() : 0;
    return total;
  }
};

}  // namespace neft::model
