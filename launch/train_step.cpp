#include "launch/train_step.h"

#include <algorithm>

#include "optim/clip.h"

namespace neft::launch {

using model::TensorParallel;

StepResult train_step(model::LlamaModel& model, optim::AdamW& optimizer,
                      const std::vector<data::Batch>& micro_batches, float lr, float clip) {
  // The loss is the mean over the whole step's counted tokens: count them first, so every
  // micro-batch's gradient is scaled by the same 1 / count and they add up to the mean.
  StepResult r;
  for (const data::Batch& b : micro_batches) r.counted += b.counted();
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
  const TensorParallel& tp = model.options().tp;
  r.grad_norm = optim::global_grad_norm(model.parameters(), tp.size > 1 ? tp.comm : nullptr);
  optimizer.step(lr, optim::clip_factor(r.grad_norm, clip));
  r.loss = loss_sum / double(denominator);
  return r;
}

}  // namespace neft::launch
