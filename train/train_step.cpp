#include "train/train_step.h"

#include <algorithm>
#include <optional>

#include "optim/clip.h"
#include "optim/distributed_optimizer.h"
#include "parallel/grad_sync.h"
#include "parallel/pipeline_schedule.h"

namespace neft::train {

namespace {
// The data-parallel group the optimizer's state is split over, if it is.
parallel::Communicator* sharded_over(const StepGroups& groups) {
  return groups.distributed_optimizer && groups.dp && groups.dp->size() > 1 ? groups.dp : nullptr;
}

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

// The model's micro-batch key (model/micro_batch_key.h) before each forward of a training
// step, and none once the step is done. This rank's k-th micro-batch is the step's
// dp_rank + k * dp_size-th (train/step_data.h deals them out in turn). Without a step nothing
// is set: the pass draws no mask.
class MicroBatchKeys {
 public:
  MicroBatchKeys(model::LlamaModel& model, std::optional<int64_t> step, parallel::Communicator* dp)
      : model_(model), step_(step), dp_rank_(dp ? dp->rank() : 0), dp_size_(dp ? dp->size() : 1) {}
  ~MicroBatchKeys() { model_.set_micro_batch_key(std::nullopt); }
  MicroBatchKeys(const MicroBatchKeys&) = delete;
  MicroBatchKeys& operator=(const MicroBatchKeys&) = delete;
  void set(int64_t k) {
    if (step_) model_.set_micro_batch_key(model::MicroBatchKey{*step_, dp_rank_ + k * dp_size_});
  }

 private:
  model::LlamaModel& model_;
  const std::optional<int64_t> step_;
  const int64_t dp_rank_, dp_size_;
};

// Forward and backward of every micro-batch on one stage through the 1F1B schedule. Each
// micro-batch in flight keeps its activations in its own slot of the model
// (LlamaModel::use_activation_slot), so no forward runs twice and the gradients are those of
// the one-rank model, accumulated in the same micro-batch order.
double pipelined_forward_backward(model::LlamaModel& model,
                                  const std::vector<data::Batch>& micro_batches, float scale,
                                  parallel::Communicator& pp, MicroBatchKeys& keys) {
  const Device d = model.options().device;
  const data::Batch& b0 = micro_batches.front();
  for (const data::Batch& b : micro_batches)
    NEFT_CHECK(b.B == b0.B && b.T == b0.T, "pipeline: micro-batches must share one shape");
  // Micro-batch mb's slot: the schedule holds at most `in_flight` of them, and mb's forward
  // comes after the backward of mb - in_flight, whose slot it takes.
  const int in_flight = parallel::max_in_flight(pp.rank(), pp.size(), int(micro_batches.size()));
  auto use_slot = [&](int mb) { model.use_activation_slot(size_t(mb % in_flight)); };
  struct DefaultSlot {  // single-rank passes (evaluation) use slot 0 again
    model::LlamaModel& model;
    ~DefaultSlot() { model.use_activation_slot(0); }
  } default_slot{model};
  double loss_sum = 0.0;
  parallel::PipelineStep step;
  step.forward = [&](int mb, const Tensor* in) -> const Tensor& {
    const data::BatchTensors t = data::to_tensors(micro_batches[size_t(mb)], d);
    use_slot(mb);
    keys.set(mb);
    loss_sum += model.forward(t.tokens, t.targets, t.positions, in ? *in : Tensor()).loss_sum;
    return model.output();
  };
  step.backward = [&](int mb, const Tensor* dout) -> const Tensor& {
    use_slot(mb);  // the model draws the masks of the slot's forward again
    model.backward(scale, dout ? *dout : Tensor());
    return model.input_grad();
  };
  step.takes_output_grad = model.runs_backward();
  step.gives_input_grad = model.gives_input_grad();
  step.make_activation = [&] {  // this rank's tokens under sequence parallelism
    return Tensor::empty({model.residual_rows(b0.B * b0.T), model.config().hidden},
                         model.options().dtype, d);
  };
  parallel::run_1f1b(pp, int(micro_batches.size()), step);
  return loss_sum;  // non-zero on the last stage only
}
}  // namespace

StepResult forward_backward(model::LlamaModel& model, const std::vector<data::Batch>& micro_batches,
                            const StepGroups& groups, std::optional<int64_t> step) {
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
  {
    MicroBatchKeys keys(model, step, dp);
    if (pp) {
      // Only the last stage has the loss: the sum hands it to every stage.
      loss_sum = sum_value(pp, pipelined_forward_backward(model, micro_batches, scale, *pp, keys));
    } else {
      for (size_t k = 0; k < micro_batches.size(); ++k) {
        const data::BatchTensors t = data::to_tensors(micro_batches[k], model.options().device);
        keys.set(int64_t(k));
        loss_sum += model.forward(t.tokens, t.targets, t.positions).loss_sum;
        model.backward(scale);
      }
    }
  }
  model.sum_sequence_parallel_grads();  // the norms' gradients of each rank's tokens, over tp
  if (dp) {
    if (sharded_over(groups))
      optim::reduce_scatter_gradients(model.parameters(), *dp);
    else
      parallel::all_reduce_gradients(model.parameters(), *dp);
    loss_sum = sum_value(dp, loss_sum);
  }
  r.loss = loss_sum / double(denominator);
  return r;
}

StepResult train_step(model::LlamaModel& model, optim::AdamW& optimizer,
                      const std::vector<data::Batch>& micro_batches, float lr, float clip,
                      const StepGroups& groups, std::optional<int64_t> step) {
  StepResult r = forward_backward(model, micro_batches, groups, step);
  r.grad_norm = gradient_norm(model, groups);
  optimizer.step(lr, optim::clip_factor(r.grad_norm, clip));
  if (parallel::Communicator* dp = sharded_over(groups)) {
    NEFT_CHECK(optimizer.partition().size == dp->size() && optimizer.partition().rank == dp->rank(),
               "the distributed optimizer's partition is not the data-parallel group's");
    optim::all_gather_parameters(model.parameters(), *dp);
  }
  return r;
}

double gradient_norm(model::LlamaModel& model, const StepGroups& groups) {
  parallel::Communicator* pp = groups.pp && groups.pp->size() > 1 ? groups.pp : nullptr;
  const model::TensorParallel& tp = model.options().tp;
  return optim::global_grad_norm(model.parameters(), tp.size > 1 ? tp.comm : nullptr, pp,
                                 sharded_over(groups));
}

}  // namespace neft::train
