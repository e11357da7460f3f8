// Evaluation scores as people read them: a JSON object per task (metrics.jsonl, --json), a
// table per task, and the before/after table of a fine-tuning run.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/evaluate.h"

namespace neft::train {

// {"examples", "loss", "accuracy"} and, with choice items, {"choice_items", "choice_accuracy",
// "choice_accuracy_norm"}.
nlohmann::json score_json(const TaskScore& s);

// task | examples | loss | exact (| choices | acc | acc_norm), and a mean row over tasks.
std::string score_table(const std::vector<TaskScore>& scores);

// The same tasks before and after: loss and exact match (and choice accuracy) side by side.
std::string before_after_table(const std::vector<TaskScore>& before,
                               const std::vector<TaskScore>& after);

}  // namespace neft::train
