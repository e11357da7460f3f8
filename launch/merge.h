// `neft merge`: a base model with the sparse delta of a neuron-level run applied, written as
// a Hugging Face directory, so the fine-tuned model can be used where deltas mean nothing.
#pragma once
#include "launch/options.h"

namespace neft::launch {

// Returns the process exit status. Throws neft::Error on a user mistake.
int run_merge(const MergeOptions& options);

}  // namespace neft::launch
