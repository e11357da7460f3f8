#include "launch/train_step.h"

#include <algorithm>

#include "optim/clip.h"

namespace neft::launch {

namespace {
// The sum over the data-parallel group of a few per-step numbers (one small collective).
void sum_over(parallel::Communicator* dp, double& a, int64_t& b) {
  if (!dp) return;
  Tensor t = Tensor::from_floats({float(a), float(b)}, {2});
  dp->all_reduce(t);
  const std::vector<float> v = t.to_floats();
  a = double(v[0]);
  b = int64_t(v[1]);
}
}  // namespace

StepResult train_step(model::LlamaModel& model, optim::AdamW& optimizer,
                      const std::vector<data::Batch>& micro_batches, float lr, float clip,
                      parallel::Communicator* dp) {
  if (dp && dp->size() == 1) dp = nullptr;
  // The loss is the mean over the whole step's counted tokens, on every data-parallel rank
  // together: count them first, so every micro-batch's gradient is scaled by the same
  // 1 / count and the gradients (summed over micro-batches and ranks) add up to the mean.
  StepResult r;
  for (const data::Batch& b : micro_batches) r.counted += b.counted();
  double unused = 0.0;
  sum_over(dp, unused, r.counted);
  const int64_t denominator = std::max<int64_t>(r.counted, 1);
  const Device device = model.options().device;
  model.zero_grad();
  double loss_sum = 0.0;
  for (const data::Batch& b : micro_batches) {
    loss_sum += model
                    .forward(Tensor::from_ints(b.tokens, {b.B, b.T}, device),
                             Tensor::from_ints(b.targets, {b.B, b.T}, device),
                             Tensor::from_ints(b.positions, {b.B, b.T}, device))
                    .loss_sum;
    model.backward(1.0f / float(denominator));
  }
  if (dp) {
    for (Parameter* p : model.parameters())
      if (p->grad.defined()) dp->all_reduce(p->grad);
    int64_t none = 0;
    sum_over(dp, loss_sum, none);
  }
  const model::TensorParallel& tp = model.options().tp;
  r.grad_norm = optim::global_grad_norm(model.parameters(), tp.size > 1 ? tp.comm : nullptr);
  optimizer.step(lr, optim::clip_factor(r.grad_norm, clip));
  r.loss = loss_sum / double(denominator);
  return r;
}

}  // namespace neft::launch
