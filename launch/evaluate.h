// Evaluation on the synthetic suite's held-out split: per task, the mean loss over the
// response tokens and the exact-match accuracy (a response is right only when every token
// is; under teacher forcing that is exactly greedy decoding's success).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/synthetic.h"
#include "model/llama.h"

namespace neft::launch {

struct TaskScore {
  std::string task;
  int64_t examples = 0;
  double loss = 0.0;      // mean per response token
  double accuracy = 0.0;  // exact match, in [0, 1]
};

std::vector<TaskScore> evaluate_synthetic(model::LlamaModel& model,
                                          const data::SyntheticSuite& suite, int64_t examples,
                                          int64_t micro_batch, int64_t seq_len);

}  // namespace neft::launch
