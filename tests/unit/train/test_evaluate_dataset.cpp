// Dataset evaluation streams its rows through eval_forwards a bounded number of batches at a
// time. A dataset of more batches than one call takes must score every row as the same batch
// evaluated on its own does: no row lost, repeated or given another's task across the calls.
// Each example is its own task, so a task's loss and accuracy are that one row's, and the
// reference (its micro-batch as a dataset of its own) runs the same forward on the same batch:
// the numbers agree bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "data/sft.h"
#include "model/llama.h"
#include "tests/unit/model/small_config.h"
#include "train/evaluate.h"

namespace neft::train {
namespace {

data::SftDataset random_dataset(int64_t rows, int32_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  std::uniform_int_distribution<int> length(1, 6);
  data::SftDataset d;
  d.path = "rows.jsonl";
  for (int64_t i = 0; i < rows; ++i) {
    data::Example e;
    for (int k = length(rng); k > 0; --k) e.prompt.push_back(token(rng));
    for (int k = length(rng); k > 0; --k) e.response.push_back(token(rng));
    e.task = int(i);
    d.examples.push_back(e);
    d.lines.push_back(i + 1);
    d.task_names.push_back("row" + std::to_string(i));
  }
  return d;
}

// Examples [first, first + n) of `all` as a dataset of their own, each its own task.
data::SftDataset part(const data::SftDataset& all, size_t first, size_t n) {
  data::SftDataset d;
  d.path = all.path;
  for (size_t i = first; i < first + n; ++i) {
    d.examples.push_back(all.examples[i]);
    d.examples.back().task = int(i - first);
    d.lines.push_back(all.lines[i]);
    d.task_names.push_back(all.task_names[i]);
  }
  return d;
}

TEST(EvaluateDataset, RowsAcrossManyForwardCallsScoreAsTheirBatchAlone) {
  model::LlamaModel m(testing::small_llama_config(/*tied=*/true), model::ModelOptions{});
  m.init_random(5);
  // 2 rows a micro-batch, 71 rows: 36 batches, more than one call's 32, the last batch short.
  constexpr int64_t kMicroBatch = 2, kRows = 71;
  const data::SftDataset all = random_dataset(kRows, int32_t(m.config().vocab), 9);
  const std::vector<TaskScore> scores = evaluate_dataset(m, all, kMicroBatch);
  ASSERT_EQ(scores.size(), size_t(kRows));
  for (size_t first = 0; first < size_t(kRows); first += kMicroBatch) {
    const size_t n = std::min(size_t(kMicroBatch), size_t(kRows) - first);
    const std::vector<TaskScore> alone = evaluate_dataset(m, part(all, first, n), kMicroBatch);
    ASSERT_EQ(alone.size(), n);
    for (size_t i = 0; i < n; ++i) {
      const TaskScore& s = scores[first + i];
      EXPECT_EQ(s.task, alone[i].task);
      EXPECT_EQ(s.examples, 1);
      EXPECT_EQ(s.loss, alone[i].loss) << s.task;
      EXPECT_EQ(s.accuracy, alone[i].accuracy) << s.task;
      EXPECT_GT(s.loss, 0.0) << s.task;
    }
  }
}

}  // namespace
}  // namespace neft::train
