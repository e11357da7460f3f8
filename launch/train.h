// `neft train`: trains a model from TrainOptions (launch/options.h).
#pragma once
#include "launch/options.h"

namespace neft::launch {

// Runs a training job; returns the process exit status. Throws neft::Error on a user mistake.
int run_train(const TrainOptions& options);

}  // namespace neft::launch
