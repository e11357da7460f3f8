// Softmax cross-entropy over token logits, with an ignore index, in two forms:
//   - full vocabulary on one rank: cross_entropy_forward / cross_entropy_backward;
//   - vocabulary-parallel: each rank holds a shard of columns [vocab_start, vocab_start + V),
//     cross_entropy_stats gives the per-row statistics the parallel layer all-reduces into
//     the global log-sum-exp, and cross_entropy_backward runs on the shard with it.
// logits [N, V]: f32 on CPU; f32/bf16/f16 on CUDA. targets [N] i32. Statistics, losses and
// lse are [N] f32 whatever the logits dtype.
//
// Target ids are validated by the data layer. On CPU cross_entropy_forward fails on a target
// outside [0, V) that is not ignore_index; on CUDA that check would cost a device sync, so
// such a row gets a NaN loss instead (never an out-of-bounds read).
// CUDA: one block per row, fixed-order block reductions (same bits every run).
#pragma once
#include <cstdint>

#include "runtime/tensor.h"

namespace neft::ops {

// Per-row statistics of a logits shard whose columns are token ids [vocab_start, vocab_start + V):
//   row_max[n] = max_j x[n, j];  sum_exp[n] = sum_j exp(x[n, j] - row_max[n]);
//   target_logit[n] = x[n, targets[n] - vocab_start] if that id is in the shard, else 0.
// Overwrites the three [N] f32 outputs.
void cross_entropy_stats(const Tensor& logits, const Tensor& targets, int64_t vocab_start,
                         Tensor& row_max, Tensor& sum_exp, Tensor& target_logit);

// Full vocabulary: lse[n] = log sum_j exp(x[n, j]); losses[n] = lse[n] - x[n, targets[n]],
// 0 where targets[n] == ignore_index (lse is still written for those rows). Overwrites both.
void cross_entropy_forward(const Tensor& logits, const Tensor& targets, int32_t ignore_index,
                           Tensor& losses, Tensor& lse);

// dlogits[n, j] = dlosses[n] * (exp(x[n, j] - lse[n]) - [j + vocab_start == targets[n]]),
// all-zero rows where targets[n] == ignore_index. lse is the global log-sum-exp (over all
// shards); vocab_start = 0 for a full matrix. dlosses, lse: [N] f32. dlogits [N, V]: f32 on
// CPU, any float dtype on CUDA. Overwrites dlogits.
void cross_entropy_backward(const Tensor& dlosses, const Tensor& logits, const Tensor& targets,
                            const Tensor& lse, int64_t vocab_start, int32_t ignore_index,
                            Tensor& dlogits);

template <Device D>
void cross_entropy_stats(const Tensor& logits, const Tensor& targets, int64_t vocab_start,
                         Tensor& row_max, Tensor& sum_exp, Tensor& target_logit);
template <Device D>
void cross_entropy_forward(const Tensor& logits, const Tensor& targets, int32_t ignore_index,
                           Tensor& losses, Tensor& lse);
template <Device D>
void cross_entropy_backward(const Tensor& dlosses, const Tensor& logits, const Tensor& targets,
                            const Tensor& lse, int64_t vocab_start, int32_t ignore_index,
                            Tensor& dlogits);

}  // namespace neft::ops
