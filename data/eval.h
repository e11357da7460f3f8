// Evaluation helpers: held-out synthetic examples as batches, and exact-match scoring.
#pragma once
#include <cstdint>
#include <vector>

#include "data/batch.h"
#include "data/synthetic.h"

namespace neft::data {

// Examples 0..n_examples-1 of `task` from `split` (eval, or validation), one per row, left-aligned
// and padded to T, with the task id on every row; batches of B rows, the last one holding the
// remainder (fewer rows, never padding rows). Fails when T is shorter than the task's
// longest example.
std::vector<Batch> synthetic_eval_batches(const SyntheticSuite& suite, int task, int64_t n_examples,
                                          int64_t B, int64_t T, Split split = Split::Eval);

// Per row: true when argmax [B*T] equals the target at every counted position (a row with
// no counted position is false: there was nothing to get right).
std::vector<bool> exact_match(const Batch& b, const std::vector<int32_t>& argmax);

}  // namespace neft::data
