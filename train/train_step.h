// One optimizer step of training, as `neft train` runs it and neft_train_bench times it:
// gradients of the mean loss over all the step's counted tokens, accumulated over the
// micro-batches, then the global gradient norm, the clipping factor and one AdamW update.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "data/batch.h"
#include "model/llama.h"
#include "optim/adamw.h"
#include "parallel/communicator.h"

namespace neft::train {

struct StepResult {
  double loss = 0.0;        // mean over the counted tokens of all micro-batches
  int64_t counted = 0;      // tokens with a target
  int64_t real_tokens = 0;  // tokens that are not padding (what throughput counts)
  double grad_norm = 0.0;   // before clipping
};

// The groups a step communicates over; null (or a group of one) where there is none.
struct StepGroups {
  parallel::Communicator* dp = nullptr;  // gradients, token counts and the loss are summed
  parallel::Communicator* pp = nullptr;  // the model is one stage; micro-batches run 1F1B
  // The distributed optimizer (optim/distributed_optimizer.h): the gradients are
  // reduce-scattered over `dp`, each rank updates its own rows (its AdamW holds their state
  // alone) and the parameters are all-gathered after the update.
  bool distributed_optimizer = false;
};

// The gradients of one step without the update: zero_grad, forward and backward of every
// micro-batch (1F1B over `pp`), the tensor-parallel sum of the norms' gradients under sequence
// parallelism (LlamaModel::sum_sequence_parallel_grads), and the data-parallel sum (of the
// rank's own rows alone under the distributed optimizer). The scorers' passes over task data
// use it too. grad_norm is left 0. `step`, the optimizer step being trained (from 0), makes it
// a training pass: each micro-batch's forward gets its key (model/micro_batch_key.h), from
// which LoRA's dropout draws its masks; without one (the scorers') nothing is dropped.
StepResult forward_backward(model::LlamaModel& model, const std::vector<data::Batch>& micro_batches,
                            const StepGroups& groups = {}, std::optional<int64_t> step = {});

// The global norm of the model's gradients, summed over its TP shards and `groups.pp`'s
// stages (after forward_backward, which has summed them over data-parallel ranks): what
// train_step clips.
double gradient_norm(model::LlamaModel& model, const StepGroups& groups);

// With a data-parallel group each rank passes its own micro-batches (the reported loss is
// the global mean); every stage of a pipeline passes the same ones.
StepResult train_step(model::LlamaModel& model, optim::AdamW& optimizer,
                      const std::vector<data::Batch>& micro_batches, float lr, float clip,
                      const StepGroups& groups = {}, std::optional<int64_t> step = {});

}  // namespace neft::train
