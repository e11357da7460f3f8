// The adapter slot of a parallel linear layer (model/parallel_linear.h): a trainable branch
// added to a frozen or trained projection, y = x Wᵀ + adapter(x), as LoRA is. The layer owns
// the slot and calls it at the one place where each kind of layer has its output whole:
//   column-parallel: y and dy are this rank's output units; the adapter adds its share of the
//     input gradient into dx, which the layer then sums over the tensor-parallel group;
//   row-parallel: x is this rank's input units; y and dy are the whole output (after the
//     layer's sum over the group), and dx is this rank's input units. When sequence
//     parallelism splits the tokens (model/tensor_parallel.h), y holds only this rank's rows
//     of the tokens: the adapter adds its output's rows there; dy is still whole.
// Under sequence parallelism a column-parallel layer gives its adapter the gathered input,
// every token, as without it.
// An adapter that needs its input's projection in backward keeps it from the last forward
// (the block re-runs its forward before backward when activations are recomputed).
#pragma once
#include "runtime/parameter.h"
#include "runtime/tensor.h"

namespace neft::model {

class LinearAdapter {
 public:
  virtual ~LinearAdapter() = default;
  // y += the adapter's output for x.
  virtual void forward(const Tensor& x, Tensor& y) = 0;
  // dx += its input gradient (dx may be null: not needed); its parameters' gradients +=.
  virtual void backward(const Tensor& dy, const Tensor& x, Tensor* dx) = 0;
  virtual ParameterList parameters() = 0;
};

}  // namespace neft::model
