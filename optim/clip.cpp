#include "optim/clip.h"

#include <cmath>

#include "runtime/ops/reduce.h"

namespace neft::optim {

double global_grad_norm(const ParameterList& params, parallel::Communicator* tp,
                        parallel::Communicator* pp) {
  // One device-side accumulator per kind: one host sync (and one collective) for the norm.
  Tensor sharded, replicated;
  for (const Parameter* p : params) {
    if (!p->grad.defined()) continue;
    Tensor& total = tp && p->shard_dim >= 0 ? sharded : replicated;
    if (!total.defined()) total = Tensor::zeros({1}, DType::F32, p->grad.device());
    ops::sum_squares(p->grad, total, /*accumulate=*/true);
  }
  double sum = 0.0;
  if (tp) {
    if (!sharded.defined()) sharded = Tensor::zeros({1}, DType::F32, Device::CPU);
    tp->all_reduce(sharded);  // every rank takes part, whatever it holds
    sum += double(sharded.to_floats()[0]);
  }
  if (replicated.defined()) sum += double(replicated.to_floats()[0]);
  if (pp) {
    Tensor stages = Tensor::from_floats({float(sum)}, {1});
    pp->all_reduce(stages);
    sum = double(stages.to_floats()[0]);
  }
  return std::sqrt(sum);
}

float clip_factor(double norm, float max_norm) {
  if (max_norm <= 0.0f) return 1.0f;
  const double factor = double(max_norm) / (norm + 1e-6);
  return factor < 1.0 ? float(factor) : 1.0f;
}

}  // namespace neft::optim
