#include "launch/train_step.h"

#include <algorithm>

#include "optim/clip.h"
#include "parallel/grad_sync.h"
#include "parallel/pipeline_schedule.h"

namespace neft::launch {

namespace {
// The sum over a group of a few per-step numbers (one small collective).
void sum_over(parallel::Communicator* group, double& a, int64_t& b) {
  if (!group) return;
  Tensor t = Tensor::from_floats({float(a), float(b)}, {2});
  group->all_reduce(t);
  const std::vector<float> v = t.to_floats();
  a = double(v[0]);
  b = int64_t(v[1]);
}

// Forward and backward of every micro-batch on one stage through the 1F1B schedule. A
// stage other than the last runs a micro-batch's forward again right before its backward
// when another forward came in between (it keeps only each micro-batch's input), so the
// gradients are those of the one-rank model, accumulated in the same micro-batch order.
double pipelined_forward_backward(model::LlamaModel& model,
                                  const std::vector<data::Batch>& micro_batches, float scale,
                                  parallel::Communicator& pp) {
  const Device d = model.options().device;
  const data::Batch& b0 = micro_batches.front();
  for (const data::Batch& b : micro_batches)
    NEFT_CHECK(b.B == b0.B && b.T == b0.T, "pipeline: micro-batches must share one shape");
  std::vector<Tensor> inputs(micro_batches.size());
  int resident = -1;  // the micro-batch whose activations the model holds
  double loss_sum = 0.0;
  auto forward = [&](int mb) {
    const data::BatchTensors t = data::to_tensors(micro_batches[size_t(mb)], d);
    const model::LossSums s = model.forward(t.tokens, t.targets, t.positions, inputs[size_t(mb)]);
    resident = mb;
    return s.loss_sum;
  };
  parallel::PipelineStep step;
  step.forward = [&](int mb, const Tensor* in) -> const Tensor& {
    if (in) inputs[size_t(mb)] = in->clone();
    loss_sum += forward(mb);
    return model.output();
  };
  step.backward = [&](int mb, const Tensor* dout) -> const Tensor& {
    if (resident != mb) forward(mb);  // recompute; its loss was counted the first time
    model.backward(scale, dout ? *dout : Tensor());
    inputs[size_t(mb)] = Tensor();
    return model.input_grad();
  };
  step.make_activation = [&] {
    return Tensor::empty({b0.B * b0.T, model.config().hidden}, model.options().dtype, d);
  };
  parallel::run_1f1b(pp, int(micro_batches.size()), step);
  return loss_sum;  // non-zero on the last stage only
}
}  // namespace

StepResult train_step(model::LlamaModel& model, optim::AdamW& optimizer,
                      const std::vector<data::Batch>& micro_batches, float lr, float clip,
                      const StepGroups& groups) {
  parallel::Communicator* dp = groups.dp && groups.dp->size() > 1 ? groups.dp : nullptr;
  parallel::Communicator* pp = groups.pp && groups.pp->size() > 1 ? groups.pp : nullptr;
  // The loss is the mean over the whole step's counted tokens, on every data-parallel rank
  // together: count them first, so every micro-batch's gradient is scaled by the same
  // 1 / count and the gradients (summed over micro-batches and ranks) add up to the mean.
  StepResult r;
  for (const data::Batch& b : micro_batches) r.counted += b.counted();
  double unused = 0.0;
  sum_over(dp, unused, r.counted);
  const int64_t denominator = std::max<int64_t>(r.counted, 1);
  const float scale = 1.0f / float(denominator);
  model.zero_grad();
  double loss_sum = 0.0;
  if (pp) {
    loss_sum = pipelined_forward_backward(model, micro_batches, scale, *pp);
    int64_t none = 0;
    sum_over(pp, loss_sum, none);  // the last stage's loss, on every stage
  } else {
    for (const data::Batch& b : micro_batches) {
      const data::BatchTensors t = data::to_tensors(b, model.options().device);
      loss_sum += model.forward(t.tokens, t.targets, t.positions).loss_sum;
      model.backward(scale);
    }
  }
  if (dp) {
    parallel::all_reduce_gradients(model.parameters(), *dp);
    int64_t none = 0;
    sum_over(dp, loss_sum, none);
  }
  const model::TensorParallel& tp = model.options().tp;
  r.grad_norm = optim::global_grad_norm(model.parameters(), tp.size > 1 ? tp.comm : nullptr, pp);
  optimizer.step(lr, optim::clip_factor(r.grad_norm, clip));
  r.loss = loss_sum / double(denominator);
  return r;
}

}  // namespace neft::launch
