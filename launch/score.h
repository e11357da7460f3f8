// `neft score`, `neft select` and `neft finetune`: the neuron-level method as commands
// (options in launch/neuron_options.h). Each runs on one process or under mpirun at any
// tp x pp x dp layout; every rank works on the neurons it owns.
#pragma once
#include "launch/neuron_options.h"

namespace neft::launch {

int run_score(const ScoreOptions& options);
int run_select(const SelectOptions& options);
int run_finetune(const FinetuneOptions& options);

}  // namespace neft::launch
