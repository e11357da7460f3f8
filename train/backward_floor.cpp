#include "train/backward_floor.h"

namespace neft::train {

namespace {
// The group's minimum, as the maximum of the negated values (the groups reduce by sum or max).
int64_t group_min(parallel::Communicator* group, int64_t n) {
  if (!group || group->size() == 1) return n;
  Tensor t = Tensor::empty({1}, DType::I64);
  *t.data<int64_t>() = -n;
  group->all_reduce(t, parallel::ReduceOp::Max);
  return -*t.data<int64_t>();
}
}  // namespace

void agree_backward_floor(model::LlamaModel& model, parallel::Communicator* tp,
                          parallel::Communicator* pp) {
  // The tensor-parallel minimum first: every rank of a stage then brings the same value to
  // its pipeline group, and the pipeline minimum is the whole model's.
  model.set_agreed_floor(group_min(pp, group_min(tp, model.lowest_trained_layer())));
}

}  // namespace neft::train
