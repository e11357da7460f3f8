// Evaluation helpers: held-out synthetic batches and exact-match scoring.
#include <gtest/gtest.h>

#include <algorithm>

#include "data/eval.h"
#include "tests/unit/data/data_testing.h"

namespace neft::data {
namespace {

using ::neft::data::testing::expect_error;

TEST(DataEval, SyntheticEvalBatchesHoldOneHeldOutExamplePerRow) {
  const SyntheticSuite suite({"copy", "add"}, 4);
  const std::vector<Batch> batches = synthetic_eval_batches(suite, 1, 10, 4, 24);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].B, 4);
  EXPECT_EQ(batches[2].B, 2);  // the remainder, no padding rows
  uint64_t k = 0;
  for (const Batch& b : batches) {
    EXPECT_EQ(b.T, 24);
    for (int64_t row = 0; row < b.B; ++row, ++k) {
      EXPECT_EQ(b.task[size_t(row)], 1);
      const Example e = suite.example(1, k, Split::Eval);
      std::vector<int32_t> expected = e.prompt;
      expected.insert(expected.end(), e.response.begin(), e.response.end());
      expected.resize(24, 0);  // left-aligned, padded
      const auto at = b.tokens.begin() + row * 24;
      EXPECT_EQ(std::vector<int32_t>(at, at + 24), expected);
      int64_t counted = 0;
      for (int64_t t = 0; t < 24; ++t) counted += b.targets[size_t(row * 24 + t)] != kIgnoreIndex;
      EXPECT_EQ(counted, int64_t(e.response.size()));
    }
  }
  EXPECT_TRUE(synthetic_eval_batches(suite, 0, 0, 4, 24).empty());
  expect_error([&] { synthetic_eval_batches(suite, 0, 4, 4, 10); }, {"T=10"});
  expect_error([&] { synthetic_eval_batches(suite, 2, 4, 4, 24); }, {"task 2 out of range"});
}

// The validation split (for choosing settings) is another set of held-out inputs than eval.
TEST(DataEval, ValidationBatchesHoldValidationExamples) {
  const SyntheticSuite suite({"shift"}, 4);
  const Batch eval = synthetic_eval_batches(suite, 0, 8, 8, 24, Split::Eval).at(0);
  const Batch validation = synthetic_eval_batches(suite, 0, 8, 8, 24, Split::Validation).at(0);
  for (int64_t row = 0; row < 8; ++row) {
    const Example e = suite.example(0, uint64_t(row), Split::Validation);
    EXPECT_EQ(SyntheticSuite::split_of(e.prompt), Split::Validation);
    const auto at = validation.tokens.begin() + row * 24;
    EXPECT_TRUE(std::equal(e.prompt.begin(), e.prompt.end(), at)) << "row " << row;
  }
  EXPECT_NE(eval.tokens, validation.tokens);
  EXPECT_EQ(parse_held_out_split("validation"), Split::Validation);
  expect_error([] { parse_held_out_split("train"); }, {"'train'", "eval or validation"});
}

TEST(DataEval, ExactMatchNeedsEveryCountedPositionRight) {
  Batch b = Batch::padded(4, 5);
  const std::vector<Example> ex{{{1, 2}, {3, 4}, 0}, {{1}, {5, 6, 7}, 0}, {{2}, {8}, 0}};
  for (int64_t row = 0; row < 3; ++row) place_example(ex[size_t(row)], b, row, 0);
  // Row 3 stays padding: nothing to get right.
  // Right at every counted position, deliberately wrong everywhere else.
  std::vector<int32_t> argmax(20, 63);
  for (size_t i = 0; i < 20; ++i)
    if (b.targets[i] != kIgnoreIndex) argmax[i] = b.targets[i];
  EXPECT_EQ(exact_match(b, argmax), (std::vector<bool>{true, true, true, false}));
  // One wrong token fails its row only, wherever it is in the response.
  for (int64_t t : {1, 2}) {
    std::vector<int32_t> wrong = argmax;
    wrong[size_t(1 * 5 + t)] = 9;
    EXPECT_EQ(exact_match(b, wrong), (std::vector<bool>{true, false, true, false})) << t;
  }
  expect_error([&] { exact_match(b, std::vector<int32_t>(19)); }, {"19 entries", "4x5"});
}

}  // namespace
}  // namespace neft::data
