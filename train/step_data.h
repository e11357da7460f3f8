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

// The batch source of a command's data options: --data with its --tasks (the synthetic
// suite's through the spec, an sft file's lines by their "task"), --packing on|off, and the
// tokenizer of --model / --init for text lines; token ids checked against `vocab`.
struct DataOptions {
  std::string data, tasks, packing, model, init;
};
std::unique_ptr<data::BatchSource> task_batch_source(const DataOptions& d, int64_t micro_batch,
                                                     int64_t seq_len, uint64_t seed, int64_t vocab);

// Micro-batches of one step for data-parallel rank `dp_rank` of `dp_size`: every rank draws
// the whole step's dp_size * grad_accum micro-batches, so the data stream and its position
// (in checkpoints) are the same on every rank, and keeps every dp_size-th. Together the ranks
// train on exactly what one rank would with grad_accum * dp_size.
std::vector<data::Batch> draw_micro_batches(data::BatchSource& source, int64_t grad_accum,
                                            int dp_rank, int dp_size);

}  // namespace neft::train
