// Scoring every neuron of a space on task data, as `neft score` and `neft finetune` do it: the
// scorer's passes over the data (forward and backward for attribution and wgrad, the probe's
// fine-tuning for cosine) run as training steps do, on every rank of the job at its layout,
// and each rank scores the neurons it owns (neuron/scores.h).
#pragma once
#include <cstdint>
#include <string>

#include "data/batch_source.h"
#include "model/llama.h"
#include "neuron/neuron_space.h"
#include "neuron/scores.h"
#include "train/parallel_job.h"

namespace neft::train {

// How neurons are scored (neuron/scores.h).
struct ScoreSpec {
  std::string scorer = "cosine";        // cosine | attribution | wgrad | magnitude | random
  std::string kinds = "ffn";            // ffn, qo, kv (comma-separated) or all
  bool gate = false;                    // gate_proj's row joins each ffn neuron
  std::string probe;                    // cosine: a fine-tuned copy of the model; "" = probe here
  int64_t probe_steps = 50;             // cosine: full fine-tuning steps of the probe
  std::string probe_optimizer = "sgd";  // cosine: sgd | adamw
  double probe_lr = 0.1;                // cosine: the probe's (constant) learning rate
  int64_t score_batches = 16;           // attribution, wgrad: micro-batches of task data
  std::string rule = "token-abs";       // attribution: token-abs | abs-total
};

// This rank's scores of its neurons of `space`. The cosine scorer leaves the model's weights
// as it found them; `seed` drives the random scorer.
neuron::LocalScores score_neurons(model::LlamaModel& model, const neuron::NeuronSpace& space,
                                  data::BatchSource& source, const ParallelJob& job,
                                  const ScoreSpec& spec, uint64_t seed);

}  // namespace neft::train
