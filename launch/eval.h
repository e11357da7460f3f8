// `neft eval`: evaluates a model from EvalOptions (launch/options.h).
#pragma once
#include "launch/options.h"

namespace neft::launch {

// Runs an evaluation; returns the process exit status. Throws neft::Error on a user mistake.
int run_eval(const EvalOptions& options);

}  // namespace neft::launch
