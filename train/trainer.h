// The training engine: a run from TrainOptions (train/train_options.h) on one process or every
// rank of a job, as `neft train` and `neft finetune` start it: the model and its data, resume
// from the newest checkpoint, the steps with their progress line, metrics, evaluation and
// checkpoints, and the final model (and, for neuron-level training, its delta).
#pragma once
#include "train/train_options.h"

namespace neft::train {

// Returns the process exit status. Throws neft::Error on a user mistake.
int run_training(const TrainOptions& options);

}  // namespace neft::train
