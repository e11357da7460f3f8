// Cross-entropy over a vocabulary split across the tensor-parallel group (Megatron's
// vocab-parallel cross-entropy): each rank holds logits for its range of the vocabulary
// only, so the full [N, vocab] logits never exist on one rank. Only per-token statistics
// travel: the row maxima (all-reduce max), the rescaled sums of exponentials and the target
// logits (all-reduce sum).
#pragma once
#include <cstdint>

#include "model/tensor_parallel.h"
#include "runtime/tensor.h"

namespace neft::model {

// logits [N, V_local] for vocabulary ids [vocab_start, vocab_start + V_local); targets [N]
// (ignore_index: loss 0). Writes losses [N] and the global lse [N] (f32), which the
// backward (ops::cross_entropy_backward with vocab_start) takes.
void vocab_parallel_cross_entropy(const Tensor& logits, const Tensor& targets, int64_t vocab_start,
                                  const TensorParallel& tp, Tensor& losses, Tensor& lse,
                                  int32_t ignore_index = -100);

}  // namespace neft::model
