#include "train/step_data.h"

namespace neft::train {

std::string data_spec(const std::string& data, const std::string& tasks) {
  if (data == "synthetic" && !tasks.empty()) return "synthetic:" + tasks;
  return data;
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
