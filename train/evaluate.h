// Evaluation, on one of the synthetic suite's held-out splits (eval, or validation) or on the
// user's data (an sft: JSONL read for evaluation, data/sft.h): per task, the mean loss over
// the answer tokens and the exact-match accuracy (an answer is right only when every token
// is; under teacher forcing that is exactly greedy decoding's success: greedy generation
// from the prompt reproduces the answer, its end-of-turn or eos token included, if and only
// if every teacher-forced argmax is the answer's next token), and for multiple-choice items
// the log-likelihood accuracy (the choice whose tokens are most likely after the prompt, as
// lm-evaluation-harness's acc) and its length-normalised form (log-likelihood per byte of the
// choice, acc_norm). The ranks of a tensor-parallel model (each holding part of the
// vocabulary's logits) call it together and get the same scores.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/sft.h"
#include "data/synthetic.h"
#include "model/llama.h"
#include "parallel/communicator.h"

namespace neft::train {

struct TaskScore {
  std::string task;
  int64_t examples = 0;
  double loss = 0.0;      // mean per response token
  double accuracy = 0.0;  // exact match, in [0, 1]
  int64_t choice_items = 0;
  double choice_accuracy = 0.0, choice_accuracy_norm = 0.0;
};

// Row-wise argmax of logits [N, V_local] that hold vocabulary ids [vocab_start, vocab_start +
// V_local) of a vocabulary split over the TP group (all of it at tp 1): the lowest id that
// reaches each row's maximum over the whole vocabulary, as argmax over the gathered row
// would give, ties included, on every rank; only two numbers per row travel.
std::vector<int32_t> vocab_parallel_argmax(const Tensor& logits, int64_t vocab_start,
                                           const model::TensorParallel& tp);

// The evaluation forwards of batches, on every rank of the model's tp group and, when `pp` has
// several stages, of its pipeline group (parallel::run_forward_only: the batches stream through
// the stages; the last stage's per-token losses and argmax reach every stage once all went
// through). Every rank gets the same numbers.
struct EvalForward {
  double loss_sum = 0.0;            // over the counted tokens
  int64_t tokens = 0;               // counted tokens
  std::vector<float> token_losses;  // [B*T], 0 where the target is ignored
  std::vector<int32_t> argmax;      // [B*T]: the most likely next token
};
std::vector<EvalForward> eval_forwards(model::LlamaModel& model,
                                       const std::vector<data::BatchTensors>& batches,
                                       parallel::Communicator* pp = nullptr);

// The forwards of batches through a pipeline's stages (every stage calls it), forward only;
// on the last stage, which holds the logits, losses and final hidden states, on_last(i) runs
// right after batch i's forward.
void pipeline_forwards(model::LlamaModel& model, const std::vector<data::BatchTensors>& batches,
                       parallel::Communicator& pp, const std::function<void(size_t)>& on_last);

// The mean over every token of the batches (packed rows, no padding) of the model's final
// hidden state, on every rank: a task's "task vector" for W-NCFT (launch/continual.h).
std::vector<float> mean_final_hidden(model::LlamaModel& model,
                                     const std::vector<data::Batch>& batches,
                                     parallel::Communicator* pp = nullptr);

// `pp`: the model's pipeline group, when it is one stage of several (every stage calls it).
std::vector<TaskScore> evaluate_synthetic(model::LlamaModel& model,
                                          const data::SyntheticSuite& suite, int64_t examples,
                                          int64_t micro_batch, int64_t seq_len,
                                          data::Split split = data::Split::Eval,
                                          parallel::Communicator* pp = nullptr);

// Per task of the data (in order of first appearance; "all" when no line names one), over its
// examples and choice items, one per row in batches of micro_batch rows as long as their
// longest.
std::vector<TaskScore> evaluate_dataset(model::LlamaModel& model, const data::SftDataset& data,
                                        int64_t micro_batch, parallel::Communicator* pp = nullptr);

}  // namespace neft::train
