// The model's view of tensor parallelism (Megatron's): which shard of the heads, the
// intermediate units and the vocabulary this rank holds, and the group's conjugate mappings
// (parallel/mappings.h). Column-parallel layers (q, k, v, gate, up, the LM head) hold rows of
// their weight; row-parallel ones (o, down) hold columns and sum their partial outputs; the
// embedding holds a range of the vocabulary. On one rank (size 1) every mapping is a no-op.
#pragma once
#include <cstdint>
#include <string>

#include "parallel/communicator.h"
#include "runtime/tensor.h"

namespace neft::model {

struct TensorParallel {
  parallel::Communicator* comm = nullptr;  // the TP group; null on one rank
  int rank = 0, size = 1;

  // In place. copy_to_tp's backward sums a column-parallel layer's (or the vocabulary-
  // parallel head's) input gradient over the group; reduce_from_tp's forward sums a
  // row-parallel layer's (or the vocabulary-parallel embedding's) partial outputs.
  void copy_to_tp_backward(Tensor& dx) const;
  void reduce_from_tp_forward(Tensor& y) const;
  // This rank's share of `n` (heads, units, vocabulary entries); fails naming `what` when
  // the group size does not divide it.
  int64_t local(int64_t n, const std::string& what) const;
  int64_t offset(int64_t n, const std::string& what) const { return rank * local(n, what); }
};

}  // namespace neft::model
