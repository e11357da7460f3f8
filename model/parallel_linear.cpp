#include "model/parallel_linear.h"

#include "model/linear.h"
#include "runtime/error.h"

namespace neft::model {

bool LinearWeight::trains() {
  if (weight.trainable) return true;
  if (adapter)
    for (const Parameter* p : adapter->parameters())
      if (p->trainable) return true;
  return false;
}

ColumnParallelLinear::ColumnParallelLinear(const TensorParallel& tp, std::vector<Parameter> weights)
    : tp_(&tp) {
  for (Parameter& w : weights) parts_.push_back({std::move(w), nullptr});
}

void ColumnParallelLinear::forward(const Tensor& x, const std::vector<Tensor*>& ys) {
  NEFT_CHECK(ys.size() == parts_.size(), "column-parallel linear: ", ys.size(), " outputs for ",
             parts_.size(), " weights");
  const Tensor input = tp_->column_input(x);  // every token: x, or the gathered token shards
  for (size_t i = 0; i < parts_.size(); ++i) {
    linear_forward(input, parts_[i].weight, *ys[i]);
    if (parts_[i].adapter) parts_[i].adapter->forward(input, *ys[i]);
  }
}

bool ColumnParallelLinear::trains() {
  for (LinearWeight& w : parts_)
    if (w.trains()) return true;
  return false;
}

void ColumnParallelLinear::backward(const std::vector<const Tensor*>& dys, const Tensor& x,
                                    Tensor* dx) {
  NEFT_CHECK(dys.size() == parts_.size(), "column-parallel linear: ", dys.size(), " gradients for ",
             parts_.size(), " weights");
  // With the tokens split only this rank's were kept: they are gathered again (as Megatron-LM
  // does), and the whole input's gradient is a buffer of its own until it is reduce-scattered.
  const Tensor input = tp_->column_input(x);
  Tensor dinput = dx ? tp_->whole_tokens(*dx) : Tensor();
  Tensor* d = dx ? &dinput : nullptr;
  for (size_t i = 0; i < parts_.size(); ++i) {
    linear_backward(*dys[i], input, parts_[i].weight, d, /*accumulate_dx=*/i > 0);
    if (parts_[i].adapter) parts_[i].adapter->backward(*dys[i], input, d);
  }
  // Every rank's units contributed to the whole input's gradient.
  if (dx) tp_->column_input_grad(dinput, *dx);
}

RowParallelLinear::RowParallelLinear(const TensorParallel& tp, Parameter weight)
    : tp_(&tp), part_{std::move(weight), nullptr} {}

void RowParallelLinear::forward(const Tensor& x, Tensor& y) {
  Tensor partial = tp_->whole_tokens(y);  // y itself unless the tokens are split
  linear_forward(x, part_.weight, partial);
  tp_->row_output(partial, y);  // the partial outputs of every rank's inputs add up
  if (part_.adapter) part_.adapter->forward(x, y);
}

void RowParallelLinear::backward(const Tensor& dy, const Tensor& x, Tensor* dx) {
  const Tensor dout = tp_->row_output_grad(dy);  // every token's: dy, or the gathered shards
  linear_backward(dout, x, part_.weight, dx, false);
  if (part_.adapter) part_.adapter->backward(dout, x, dx);
}

}  // namespace neft::model
