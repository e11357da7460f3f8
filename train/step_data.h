// The data of one optimizer step, as every training-like command draws it: the batch source
// of a --data/--tasks pair and the micro-batches of one step for a data-parallel rank.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/batch_source.h"

namespace neft::train {

// "synthetic" takes the --tasks list; other data specs name their files themselves.
std::string data_spec(const std::string& data, const std::string& tasks);

// Micro-batches of one step for data-parallel rank `dp_rank` of `dp_size`: every rank draws
// the whole step's dp_size * grad_accum micro-batches, so the data stream and its position
// (in checkpoints) are the same on every rank, and keeps every dp_size-th. Together the ranks
// train on exactly what one rank would with grad_accum * dp_size.
std::vector<data::Batch> draw_micro_batches(data::BatchSource& source, int64_t grad_accum,
                                            int dp_rank, int dp_size);

}  // namespace neft::train
