// The model's view of tensor parallelism (Megatron's): which shard of the heads, the
// intermediate units and the vocabulary this rank holds, and the all-reduce of the TP group.
// Column-parallel layers (q, k, v, gate, up, the LM head) hold rows of their weight;
// row-parallel ones (o, down) hold columns and all-reduce their partial outputs; the
// embedding holds a range of the vocabulary. On one rank (size 1) every call is a no-op.
#pragma once
#include <cstdint>
#include <string>

#include "parallel/communicator.h"
#include "runtime/tensor.h"

namespace neft::model {

struct TensorParallel {
  parallel::Communicator* comm = nullptr;  // the TP group; null on one rank
  int rank = 0, size = 1;

  // Sum over the group, in place (the forward of a row-parallel layer's output, the
  // backward of a column-parallel layer's input).
  void all_reduce(Tensor& t) const {
    if (size > 1) comm->all_reduce(t);
  }
  // This rank's share of `n` (heads, units, vocabulary entries); fails naming `what` when
  // the group size does not divide it.
  int64_t local(int64_t n, const std::string& what) const;
  int64_t offset(int64_t n, const std::string& what) const { return rank * local(n, what); }
};

}  // namespace neft::model
