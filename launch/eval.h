// `neft eval`: evaluates a model from EvalOptions (launch/options.h), and the pieces of it
// that `neft analyze deactivate` shares.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "launch/options.h"
#include "model/llama.h"
#include "neuron/neuron_set.h"
#include "train/evaluate.h"
#include "train/parallel_job.h"

namespace neft::launch {

// Runs an evaluation; returns the process exit status. Throws neft::Error on a user mistake.
int run_eval(const EvalOptions& options);

// The model of --model / --init on this rank of the job (its tensor-parallel shard of its
// pipeline stage).
std::unique_ptr<model::LlamaModel> build_eval_model(const EvalOptions& options,
                                                    const train::ParallelJob& job);
// Per task, on the held-out data the options name (--data, --tasks, --split, ...); every rank
// of the job calls it (a pipeline's stages pass the batch on) and gets the same scores.
std::vector<train::TaskScore> evaluate_held_out(model::LlamaModel& model,
                                                const EvalOptions& options,
                                                const train::ParallelJob& job);
// The neuron space of `model`'s layout for a set read from `path`, after checking the set is
// for this model (neuron::space_of: one line naming the file and what differs).
neuron::NeuronSpace deactivation_space(const neuron::NeuronSet& set, const std::string& path,
                                       const model::LlamaModel& model);

}  // namespace neft::launch
