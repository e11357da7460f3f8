// The sparse delta of a neuron-level run (format: neuron/delta.h) from a model at any layout:
// the current weights of every trained neuron, gathered over the TP ranks that own them and
// collected from the pipeline stages, keyed by whole-tensor indices, so a delta saved at tp 2
// is the same file as one saved at tp 1.
#pragma once
#include <string>

#include "model/llama.h"
#include "model/safetensors.h"
#include "parallel/communicator.h"

namespace neft::train {

// "<parameter>.neurons" and "<parameter>.rows" of every neuron-level parameter of this rank's
// stage that trains at least one neuron (on any rank), in parameters() order. Collective over
// the model's TP group (every rank of it calls it; each gets the whole result).
model::NamedTensors delta_tensors(model::LlamaModel& model);

// Writes the delta of the whole model to `path`, atomically: every rank of the model's TP group
// calls it, with `pp` the pipeline group of the writer's stage ranks (null elsewhere, as for
// save_model in train/distributed_checkpoint.h); the one with `write` set writes.
void save_delta(model::LlamaModel& model, const std::string& path, bool write,
                parallel::Communicator* pp = nullptr);

}  // namespace neft::train
