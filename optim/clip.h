// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_: the factor that scales
// the gradients to norm at most max_norm. The optimizer applies it (AdamW::step's
// grad_scale), so no pass rewrites the gradients.
#pragma once
#include "parallel/communicator.h"
#include "runtime/parameter.h"

namespace neft::optim {

// The l2 norm of all gradients together (parameters without a gradient are skipped). Under
// tensor parallelism pass the group: the squares of sharded parameters are summed over it,
// those of replicated ones (identical on every rank) counted once. Under pipeline
// parallelism pass the pipeline group too: each stage holds different parameters. Under the
// distributed optimizer pass its data-parallel group as `owned_over`: a rank's gradients hold
// the group's sum only in the rows it owns (optim/state_partition.h), so each rank sums the
// squares of those rows and the group adds them up.
double global_grad_norm(const ParameterList& params, parallel::Communicator* tp = nullptr,
                        parallel::Communicator* pp = nullptr,
                        parallel::Communicator* owned_over = nullptr);
// min(1, max_norm / (norm + 1e-6)); 1 when max_norm <= 0 (clipping off).
float clip_factor(double norm, float max_norm);

}  // namespace neft::optim
