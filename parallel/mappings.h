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
// Sequence parallelism's pair (Megatron-LM's, Korthikanti et al. 2022) works along dim 0, the
// tokens: between the tensor-parallel layers each rank holds rows [rank * n, (rank + 1) * n)
// of the [size * n, ...] hidden states.
//   gather_from_sp        forward: all-gather the token shards (in front of a column-parallel
//                         layer, which reads every token); backward: reduce-scatter
//   reduce_scatter_to_sp  forward: reduce-scatter (after a row-parallel layer: the partial
//                         outputs add up and each rank keeps its tokens); backward: all-gather
#pragma once
#include "parallel/communicator.h"

namespace neft::parallel {

inline void copy_to_tp_forward(Tensor& /*x*/, Communicator& /*tp*/) {}
void copy_to_tp_backward(Tensor& dx, Communicator& tp);    // in place
void reduce_from_tp_forward(Tensor& y, Communicator& tp);  // in place
inline void reduce_from_tp_backward(Tensor& /*dy*/, Communicator& /*tp*/) {}

// shard [n, ...] -> whole [size * n, ...], and the conjugate. Overwrite their outputs.
void gather_from_sp_forward(const Tensor& shard, Tensor& whole, Communicator& tp);
void gather_from_sp_backward(const Tensor& dwhole, Tensor& dshard, Communicator& tp);
// partial [size * n, ...] -> shard [n, ...] summed over the group, and the conjugate.
inline void reduce_scatter_to_sp_forward(const Tensor& partial, Tensor& shard, Communicator& tp) {
  gather_from_sp_backward(partial, shard, tp);
}
inline void reduce_scatter_to_sp_backward(const Tensor& dshard, Tensor& dwhole, Communicator& tp) {
  gather_from_sp_forward(dshard, dwhole, tp);
}

// full [..., C] -> shard [..., C / tp]: columns [rank * C/tp, (rank + 1) * C/tp). Overwrites
// shard. A one-line error when tp does not divide C or the shapes disagree.
void scatter_to_tp(const Tensor& full, Tensor& shard, Communicator& tp);
// shard [..., c] from every rank -> full [..., tp * c], rank r's shard in columns
// [r * c, (r + 1) * c). Overwrites full. Builds an index on the tensors' device each call
// (a synchronising copy on CUDA): meant for outputs and tests, not a per-layer hot path.
void gather_from_tp(const Tensor& shard, Tensor& full, Communicator& tp);

}  // namespace neft::parallel
