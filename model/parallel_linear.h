// Megatron-core's tensor-parallel linear layers (tensor_parallel/layers.py), bias-free as
// Llama's projections are, built on the conjugate mappings of parallel/mappings.h:
//   ColumnParallelLinear  W [out, in] split by rows: each rank computes its out/tp outputs
//                         from the whole input (copy_to_tp: identity forward, the input
//                         gradient summed over the group in backward). Like Megatron's
//                         linear_qkv and linear_fc1 it may hold several weights that read
//                         one input (q, k, v; gate, up), so that one all-reduce of their
//                         summed input gradient serves them all.
//   RowParallelLinear     W split by columns: each rank reads its in/tp inputs (a column-
//                         parallel layer's outputs) and the partial outputs are summed
//                         (reduce_from_tp: all-reduce forward, identity backward).
// Under sequence parallelism (model/tensor_parallel.h) a pass that splits its tokens gives a
// column-parallel layer this rank's token rows of its input (and of its input gradient), which
// the layer gathers (and reduce-scatters), and a row-parallel one this rank's token rows of
// its output (and of its output gradient), which the layer reduce-scatters (and gathers).
// Every weight has one adapter slot (model/linear_adapter.h). Weight gradients follow
// model/linear.h: none for a frozen weight, selected rows only for a neuron-level one.
#pragma once
#include <memory>
#include <vector>

#include "model/linear_adapter.h"
#include "model/tensor_parallel.h"
#include "runtime/parameter.h"

namespace neft::model {

// One weight of a parallel linear layer and its adapter (null: none).
struct LinearWeight {
  Parameter weight;
  std::unique_ptr<LinearAdapter> adapter;

  // Whether the weight or its adapter trains (by their trainable flags, which every rank of a
  // tensor-parallel group shares even when a neuron-level weight holds no neuron here).
  bool trains();
};

class ColumnParallelLinear {
 public:
  // Each weight holds this rank's rows of its whole tensor.
  ColumnParallelLinear(const TensorParallel& tp, std::vector<Parameter> weights);

  size_t size() const { return parts_.size(); }
  LinearWeight& part(size_t i) { return parts_.at(i); }

  // ys[i] = x W_iᵀ + adapter_i(x): this rank's outputs of weight i, for every token (x: this
  // rank's tokens when they are split).
  void forward(const Tensor& x, const std::vector<Tensor*>& ys);
  // dx = the sum over weights (and the group) of dy_i W_i + the adapters' input gradients;
  // the weights' and adapters' gradients accumulate. dx null: the input gradient is not
  // needed (no GEMM and no sum over the group for it); every rank of the group must agree.
  void backward(const std::vector<const Tensor*>& dys, const Tensor& x, Tensor* dx);
  bool trains();  // any weight or adapter

 private:
  const TensorParallel* tp_;  // the model's (outlives the layer)
  std::vector<LinearWeight> parts_;
};

class RowParallelLinear {
 public:
  // The weight holds this rank's columns of its whole tensor.
  RowParallelLinear(const TensorParallel& tp, Parameter weight);

  LinearWeight& part() { return part_; }
  bool trains() { return part_.trains(); }  // the weight or its adapter

  // y = the sum over the group of x W_localᵀ, + adapter(x): whole on every rank (this rank's
  // tokens of it when they are split; dy in backward likewise).
  void forward(const Tensor& x, Tensor& y);
  // dx = dy W_local + the adapter's input gradient (this rank's inputs); gradients accumulate.
  // dx null: the input gradient is not needed.
  void backward(const Tensor& dy, const Tensor& x, Tensor* dx);

 private:
  const TensorParallel* tp_;  // the model's (outlives the layer)
  LinearWeight part_;
};

}  // namespace neft::model
