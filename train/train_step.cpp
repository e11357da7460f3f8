#include "train/train_step.h"

#include <algorithm>

#include "optim/clip.h"
#include "parallel/grad_sync.h"
#include "parallel/pipeline_schedule.h"

namespace neft::train {

namespace {
// Sums over a group (or the value itself without one): token counts exactly, in i64, and
// the loss in f32, the dtype the communicators reduce.
int64_t sum_count(parallel::Communicator* group, int64_t n) {
  if (!group) return n;
  Tensor t = Tensor::empty({1}, DType::I64);
  *t.data<int64_t>() = n;
  group->all_reduce(t);
  return *t.data<int64_t>();
}
double sum_value(parallel::Communicator* group, double x) {
  if (!group) return x;
  Tensor t = Tensor::from_floats({float(x)}, {1});
  group->all_reduce(t);
  return double(t.to_floats()[0]);
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
  step.make_activation = [&] {  // this rank's tokens under sequence parallelism
    return Tensor::empty({model.residual_rows(b0.B * b0.T), model.config().hidden},
                         model.options().dtype, d);
  };
  parallel::run_1f1b(pp, int(micro_batches.size()), step);
  return loss_sum;  // non-zero on the last stage only
}
}  // namespace

StepResult forward_backward(model::LlamaModel& model, const std::vector<data::Batch>& micro_batches,
                            const StepGroups& groups) {
  parallel::Communicator* dp = groups.dp && groups.dp->size() > 1 ? groups.dp : nullptr;
  parallel::Communicator* pp = groups.pp && groups.pp->size() > 1 ? groups.pp : nullptr;
  // The loss is the mean over the whole step's counted tokens, on every data-parallel rank
  // together: count them first, so every micro-batch's gradient is scaled by the same
  // 1 / count and the gradients (summed over micro-batches and ranks) add up to the mean.
  StepResult r;
  for (const data::Batch& b : micro_batches) {
    r.counted += b.counted();
    r.real_tokens += b.real_tokens();
  }
  r.counted = sum_count(dp, r.counted);
  r.real_tokens = sum_count(dp, r.real_tokens);
  const int64_t denominator = std::max<int64_t>(r.counted, 1);
  const float scale = 1.0f / float(denominator);
  model.zero_grad();
  double loss_sum = 0.0;
  if (pp) {
    // Only the last stage has the loss: the sum hands it to every stage.
    loss_sum = sum_value(pp, pipelined_forward_backward(model, micro_batches, scale, *pp));
  } else {
    for (const data::Batch& b : micro_batches) {
      const data::BatchTensors t = data::to_tensors(b, model.options().device);
      loss_sum += model.forward(t.tokens, t.targets, t.positions).loss_sum;
      model.backward(scale);
    }
  }
  model.sum_sequence_parallel_grads();  // the norms' gradients of each rank's tokens, over tp
  if (dp) {
    parallel::all_reduce_gradients(model.parameters(), *dp);
    loss_sum = sum_value(dp, loss_sum);
  }
  r.loss = loss_sum / double(denominator);
  return r;
}

StepResult train_step(model::LlamaModel& model, optim::AdamW& optimizer,
                      const std::vector<data::Batch>& micro_batches, float lr, float clip,
                      const StepGroups& groups) {
  StepResult r = forward_backward(model, micro_batches, groups);
  r.grad_norm = gradient_norm(model, groups);
  optimizer.step(lr, optim::clip_factor(r.grad_norm, clip));
  return r;
}

double gradient_norm(model::LlamaModel& model, const StepGroups& groups) {
  parallel::Communicator* pp = groups.pp && groups.pp->size() > 1 ? groups.pp : nullptr;
  const model::TensorParallel& tp = model.options().tp;
  return optim::global_grad_norm(model.parameters(), tp.size > 1 ? tp.comm : nullptr, pp);
}

}  // namespace neft::train
