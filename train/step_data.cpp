#include "train/step_data.h"

#include "model/hf_companion_files.h"
#include "runtime/text.h"

namespace neft::train {

std::string data_spec(const std::string& data, const std::string& tasks) {
  if (data == "synthetic" && !tasks.empty()) return "synthetic:" + tasks;
  return data;
}

std::unique_ptr<data::BatchSource> task_batch_source(const DataOptions& d, int64_t micro_batch,
                                                     int64_t seq_len, uint64_t seed,
                                                     int64_t vocab) {
  return data::make_batch_source(data_spec(d.data, d.tasks), micro_batch, seq_len, seed,
                                 {int32_t(vocab), d.packing == "on",
                                  model::companion_source(d.model, d.init), split_list(d.tasks)});
}

std::vector<data::Batch> draw_micro_batches(data::BatchSource& source, int64_t grad_accum,
                                            int dp_rank, int dp_size) {
  std::vector<data::Batch> mine;
  for (int64_t i = 0; i < grad_accum * dp_size; ++i) {
    data::Batch b = source.next();
    if (i % dp_size == dp_rank) mine.push_back(std::move(b));
  }
  return mine;
}

}  // namespace neft::train
