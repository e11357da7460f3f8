#include "optim/clip.h"

#include <cmath>

#include "optim/state_partition.h"
#include "runtime/ops/reduce.h"

namespace neft::optim {

double global_grad_norm(const ParameterList& params, parallel::Communicator* tp,
                        parallel::Communicator* pp, parallel::Communicator* owned_over) {
  const StatePartition owned =
      owned_over ? StatePartition{owned_over->rank(), owned_over->size()} : StatePartition{};
  // One device-side accumulator per kind: one host sync (and one collective) for the norm.
  Tensor sharded, replicated;
  for (const Parameter* p : params) {
    if (!p->grad.defined()) continue;
    const RowRange rows = owned.of(*p);
    if (rows.count == 0) continue;
    Tensor& total = tp && p->shard_dim >= 0 ? sharded : replicated;
    if (!total.defined()) total = Tensor::zeros({1}, DType::F32, p->grad.device());
    ops::sum_squares(p->grad.rows(rows.begin, rows.count), total, /*accumulate=*/true);
  }
  double sum = 0.0;
  if (tp) {
    if (!sharded.defined()) sharded = Tensor::zeros({1}, DType::F32, Device::CPU);
    tp->all_reduce(sharded);  // every rank takes part, whatever it holds
    sum += double(sharded.to_floats()[0]);
  }
  if (replicated.defined()) sum += double(replicated.to_floats()[0]);
  // The data-parallel ranks' owned rows add up to each stage's, the stages to the model.
  for (parallel::Communicator* group : {owned_over, pp}) {
    if (!group) continue;
    Tensor total = Tensor::from_floats({float(sum)}, {1});
    group->all_reduce(total);
    sum = double(total.to_floats()[0]);
  }
  return std::sqrt(sum);
}

float clip_factor(double norm, float max_norm) {
  if (max_norm <= 0.0f) return 1.0f;
  const double factor = double(max_norm) / (norm + 1e-6);
  return factor < 1.0 ? float(factor) : 1.0f;
}

}  // namespace neft::optim
