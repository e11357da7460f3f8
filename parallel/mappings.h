// Megatron's conjugate tensor-parallel mappings, as plain functions on tensors. Each comes
// as a forward and the backward that is its adjoint:
//   copy_to_tp      forward: identity             backward: all-reduce the gradient
//                   (in front of a column-parallel layer: every rank reads the whole input,
//                   each contributes part of its gradient)
//   reduce_from_tp  forward: all-reduce            backward: identity
//                   (after a row-parallel layer: the partial outputs add up)
//   scatter_to_tp   forward: keep this rank's slice of the last dimension; backward: gather
//   gather_from_tp  forward: concatenate the slices along the last dimension; backward:
//                   scatter
// Sequence parallelism's pair (gather along tokens forward, reduce-scatter backward, and
// the reverse) is all_gather / reduce_scatter of the tp communicator itself.
#pragma once
#include "parallel/communicator.h"

namespace neft::parallel {

inline void copy_to_tp_forward(Tensor& /*x*/, Communicator& /*tp*/) {}
void copy_to_tp_backward(Tensor& dx, Communicator& tp);    // in place
void reduce_from_tp_forward(Tensor& y, Communicator& tp);  // in place
inline void reduce_from_tp_backward(Tensor& /*dy*/, Communicator& /*tp*/) {}

// full [..., C] -> shard [..., C / tp]: columns [rank * C/tp, (rank + 1) * C/tp). Overwrites
// shard. A one-line error when tp does not divide C or the shapes disagree.
void scatter_to_tp(const Tensor& full, Tensor& shard, Communicator& tp);
// shard [..., c] from every rank -> full [..., tp * c], rank r's shard in columns
// [r * c, (r + 1) * c). Overwrites full. Builds an index on the tensors' device each call
// (a synchronising copy on CUDA): meant for outputs and tests, not a per-layer hot path.
void gather_from_tp(const Tensor& shard, Tensor& full, Communicator& tp);

}  // namespace neft::parallel
