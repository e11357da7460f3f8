// The model's view of tensor parallelism (Megatron's): which shard of the heads, the
// intermediate units and the vocabulary this rank holds, and the group's conjugate mappings
// (parallel/mappings.h). Column-parallel layers (q, k, v, gate, up, the LM head) hold rows of
// their weight; row-parallel ones (o, down) hold columns and sum their partial outputs; the
// embedding holds a range of the vocabulary. On one rank (size 1) every mapping is a no-op.
//
// Sequence parallelism (Megatron-LM's, Korthikanti et al. 2022): between the tensor-parallel
// layers a pass that splits its tokens holds only rows [rank * N/size, (rank + 1) * N/size) of
// the [N, hidden] hidden states on each rank, and runs the norms, the residual adds, the
// embedding's output and the final norm on them. Each column-parallel layer then gathers its
// input along the tokens (and reduce-scatters its input gradient), each row-parallel one
// reduce-scatters its output (and gathers its output gradient) in place of the all-reduces.
#pragma once
#include <cstdint>
#include <string>

#include "parallel/communicator.h"
#include "runtime/tensor.h"

namespace neft::model {

struct TensorParallel {
  parallel::Communicator* comm = nullptr;  // the TP group; null on one rank
  int rank = 0, size = 1;
  // Sequence parallelism asked for (a no-op on one rank, as in Megatron-LM), and whether the
  // current pass runs it: the model turns it on for each pass whose tokens divide by size (a
  // training step's always do: the trainer checks its micro-batch first) and off for others
  // (an evaluation batch of another shape then runs the plain tensor-parallel pass, with the
  // same result) and for decoding.
  bool sequence_parallel = false;
  bool split_tokens = false;

  // In place. copy_to_tp's backward sums a column-parallel layer's (or the vocabulary-
  // parallel head's) input gradient over the group; reduce_from_tp's forward sums a
  // row-parallel layer's (or the vocabulary-parallel embedding's) partial outputs.
  void copy_to_tp_backward(Tensor& dx) const;
  void reduce_from_tp_forward(Tensor& y) const;

  // Rows of [N, ...] hidden states this rank holds in the current pass.
  int64_t tokens(int64_t N) const { return split_tokens ? N / size : N; }
  // A tensor for the whole tokens of t (t itself unless they are split), and one for this
  // rank's rows of the whole tokens t (t itself unless split); new ones are uninitialised.
  Tensor whole_tokens(const Tensor& t) const;
  Tensor token_shard(const Tensor& t) const;
  // In front of a column-parallel layer (or the head), which reads every token: forward, x
  // itself, or every rank's rows gathered (gather_from_sp); backward, the partial input
  // gradients of every rank added up: dinput (= dx) in place (copy_to_tp's all-reduce), or
  // this rank's rows of the sum into dx (reduce-scatter).
  Tensor column_input(const Tensor& x) const;
  void column_input_grad(Tensor& dinput, Tensor& dx) const;
  // After a row-parallel layer (or the embedding), whose partial outputs add up: forward,
  // partial (= y) in place (reduce_from_tp's all-reduce), or this rank's rows of the sum into
  // y (reduce_scatter_to_sp); backward, dy itself or every rank's rows gathered.
  void row_output(Tensor& partial, Tensor& y) const;
  Tensor row_output_grad(const Tensor& dy) const { return column_input(dy); }

  // This rank's share of `n` (heads, units, vocabulary entries); fails naming `what` when
  // the group size does not divide it.
  int64_t local(int64_t n, const std::string& what) const;
  int64_t offset(int64_t n, const std::string& what) const { return rank * local(n, what); }
};

}  // namespace neft::model
