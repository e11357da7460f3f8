#include "model/parallel_linear.h"

#include "model/linear.h"
#include "runtime/error.h"

namespace neft::model {

ColumnParallelLinear::ColumnParallelLinear(const TensorParallel& tp, std::vector<Parameter> weights)
    : tp_(&tp) {
  for (Parameter& w : weights) parts_.push_back({std::move(w), nullptr});
}

void ColumnParallelLinear::forward(const Tensor& x, const std::vector<Tensor*>& ys) {
  NEFT_CHECK(ys.size() == parts_.size(), "column-parallel linear: ", ys.size(), " outputs for ",
             parts_.size(), " weights");
  for (size_t i = 0; i < parts_.size(); ++i) {
    linear_forward(x, parts_[i].weight, *ys[i]);
    if (parts_[i].adapter) parts_[i].adapter->forward(x, *ys[i]);
  }
}

void ColumnParallelLinear::backward(const std::vector<const Tensor*>& dys, const Tensor& x,
                                    Tensor& dx) {
  NEFT_CHECK(dys.size() == parts_.size(), "column-parallel linear: ", dys.size(), " gradients for ",
             parts_.size(), " weights");
  for (size_t i = 0; i < parts_.size(); ++i) {
    linear_backward(*dys[i], x, parts_[i].weight, &dx, /*accumulate_dx=*/i > 0);
    if (parts_[i].adapter) parts_[i].adapter->backward(*dys[i], x, &dx);
  }
  tp_->copy_to_tp_backward(dx);  // every rank's units contributed to the whole input's gradient
}

RowParallelLinear::RowParallelLinear(const TensorParallel& tp, Parameter weight)
    : tp_(&tp), part_{std::move(weight), nullptr} {}

void RowParallelLinear::forward(const Tensor& x, Tensor& y) {
  linear_forward(x, part_.weight, y);
  tp_->reduce_from_tp_forward(y);  // the partial outputs of every rank's inputs add up
  if (part_.adapter) part_.adapter->forward(x, y);
}

void RowParallelLinear::backward(const Tensor& dy, const Tensor& x, Tensor& dx) {
  linear_backward(dy, x, part_.weight, &dx, false);
  if (part_.adapter) part_.adapter->backward(dy, x, &dx);
}

}  // namespace neft::model
