// The synthetic suite: answers recomputed here from each prompt, lengths, purity of
// example(task, index, split), and disjoint train/eval splits.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "data/sft.h"
#include "data/synthetic.h"
#include "tests/unit/data/data_testing.h"

namespace neft::data {
namespace {

using ::neft::data::testing::expect_error;
using S = SyntheticSuite;

// Decimal digits written least-significant first, as ids 16..25.
uint64_t value_of(const std::vector<int32_t>& digits) {
  uint64_t v = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    EXPECT_TRUE(*it >= 16 && *it <= 25) << *it;
    v = v * 10 + uint64_t(*it - 16);
  }
  return v;
}

// The expected answer, computed independently of the suite from the task's definition.
std::vector<int32_t> expected_answer(const std::string& task, const std::vector<int32_t>& x) {
  std::vector<int32_t> y;
  if (task == "copy") y = x;
  if (task == "reverse") y.assign(x.rbegin(), x.rend());
  if (task == "sort") {
    y = x;
    std::sort(y.begin(), y.end());
  }
  if (task == "shift")
    for (int32_t s : x) y.push_back(s == 63 ? 16 : s + 1);
  if (task == "dedup") {
    std::set<int32_t> seen;
    for (int32_t s : x)
      if (seen.insert(s).second) y.push_back(s);
  }
  if (task == "add") {
    const auto plus = std::find(x.begin(), x.end(), 26);
    EXPECT_NE(plus, x.end());
    uint64_t sum = value_of({x.begin(), plus}) + value_of({plus + 1, x.end()});
    do {
      y.push_back(16 + int32_t(sum % 10));
      sum /= 10;
    } while (sum > 0);
  }
  return y;
}

TEST(DataSynthetic, EveryTaskAnswersCorrectly) {
  const S suite(S::all_tasks(), 11);
  ASSERT_GE(suite.num_tasks(), 6);
  for (int task = 0; task < suite.num_tasks(); ++task) {
    const std::string& name = suite.task_name(task);
    for (uint64_t i = 0; i < 300; ++i) {
      for (Split split : {Split::Train, Split::Eval, Split::Validation}) {
        const Example e = suite.example(task, i, split);
        EXPECT_EQ(e.task, task);
        ASSERT_GE(e.prompt.size(), 4u);
        EXPECT_EQ(e.prompt[0], S::kBos);
        EXPECT_EQ(e.prompt[1], suite.tag(task));
        EXPECT_EQ(e.prompt.back(), S::kSep);
        ASSERT_GE(e.response.size(), 2u);
        EXPECT_EQ(e.response.back(), S::kEos);
        const std::vector<int32_t> x(e.prompt.begin() + 2, e.prompt.end() - 1);
        const std::vector<int32_t> y(e.response.begin(), e.response.end() - 1);
        for (int32_t s : x) EXPECT_TRUE(s >= S::kFirstSymbol && s < S::kVocab) << name;
        ASSERT_EQ(y, expected_answer(name, x)) << name << " example " << i;
        if (name != "add") {
          EXPECT_GE(x.size(), 3u);
          EXPECT_LE(x.size(), 8u);
        }
        EXPECT_LE(int64_t(e.prompt.size() + e.response.size()), suite.max_example_tokens());
      }
    }
  }
}

TEST(DataSynthetic, InputsCoverTheConfiguredLengths) {
  const S suite({"reverse", "add", "dedup"}, 3, SyntheticLengths{2, 5, 3});
  std::set<size_t> lengths;
  std::set<size_t> operand_digits;
  bool dedup_removed_something = false, add_carried = false;
  for (uint64_t i = 0; i < 400; ++i) {
    const Example r = suite.example(0, i);
    lengths.insert(r.prompt.size() - 3);
    const Example a = suite.example(1, i);
    const auto plus = std::find(a.prompt.begin(), a.prompt.end(), S::kPlus);
    operand_digits.insert(size_t(plus - a.prompt.begin()) - 2);
    operand_digits.insert(size_t(a.prompt.end() - 1 - plus) - 1);
    add_carried |= a.response.size() - 1 > std::max(size_t(plus - a.prompt.begin()) - 2,
                                                    size_t(a.prompt.end() - 1 - plus) - 1);
    const Example d = suite.example(2, i);
    dedup_removed_something |= d.response.size() < d.prompt.size() - 2;
  }
  EXPECT_EQ(lengths, (std::set<size_t>{2, 3, 4, 5}));
  EXPECT_EQ(operand_digits, (std::set<size_t>{1, 2, 3}));
  EXPECT_TRUE(add_carried);
  EXPECT_TRUE(dedup_removed_something);
  // add: [BOS, TAG, 3 digits, PLUS, 3 digits, SEP] + [4 digits, EOS]; reverse reaches 3+5 + 5+1.
  EXPECT_EQ(suite.max_example_tokens(), 15);
}

TEST(DataSynthetic, AnExampleIsAPureFunctionOfSeedTaskIndexAndSplit) {
  const S a(S::all_tasks(), 5), b(S::all_tasks(), 5), other_seed(S::all_tasks(), 6);
  // Regenerated directly, in any order, by another suite object: the same example.
  const Example late = a.example(3, 1000);
  for (uint64_t i = 0; i < 50; ++i) a.example(3, i);
  const Example again = b.example(3, 1000);
  EXPECT_EQ(late.prompt, again.prompt);
  EXPECT_EQ(late.response, again.response);
  int differ_by_seed = 0, differ_by_index = 0;
  for (uint64_t i = 0; i < 50; ++i) {
    differ_by_seed += a.example(0, i).prompt != other_seed.example(0, i).prompt;
    differ_by_index += a.example(0, i).prompt != a.example(0, i + 1).prompt;
  }
  EXPECT_GT(differ_by_seed, 45);
  EXPECT_GT(differ_by_index, 45);
  // Tags name the task, not its place in the suite's list.
  EXPECT_EQ(S({"add"}, 0).tag(0), S(S::all_tasks(), 0).tag(5));
  EXPECT_EQ(S({"add", "copy"}, 0).tag(1), S::kFirstTag);
}

TEST(DataSynthetic, TrainEvalAndValidationSplitsAreDisjoint) {
  for (uint64_t seed : {0, 1}) {
    const S suite(S::all_tasks(), seed);
    for (int task = 0; task < suite.num_tasks(); ++task) {
      std::set<std::vector<int32_t>> train, eval, validation;
      for (uint64_t i = 0; i < 2000; ++i) {
        const Example e = suite.example(task, i, Split::Train);
        EXPECT_EQ(S::split_of(e.prompt), Split::Train);
        train.insert(e.prompt);
      }
      for (uint64_t i = 0; i < 300; ++i) {
        const Example e = suite.example(task, i, Split::Eval);
        EXPECT_EQ(S::split_of(e.prompt), Split::Eval);
        eval.insert(e.prompt);
        const Example v = suite.example(task, i, Split::Validation);
        EXPECT_EQ(S::split_of(v.prompt), Split::Validation);
        validation.insert(v.prompt);
      }
      // Mostly distinct held-out inputs.
      EXPECT_GT(eval.size(), 250u) << suite.task_name(task);
      EXPECT_GT(validation.size(), 250u) << suite.task_name(task);
      for (const auto& p : eval) EXPECT_EQ(train.count(p) + validation.count(p), 0u);
      for (const auto& p : validation) EXPECT_EQ(train.count(p), 0u) << suite.task_name(task);
    }
  }
  // Membership is a property of the input, whatever the seed: another seed's eval examples
  // are never in this seed's train stream either.
  const S b(S::all_tasks(), 99);
  for (uint64_t i = 0; i < 200; ++i)
    EXPECT_EQ(S::split_of(b.example(1, i, Split::Eval).prompt), Split::Eval);
}

TEST(DataSynthetic, TinyInputSpacesStillSplit) {
  const S suite({"copy", "add"}, 0, SyntheticLengths{1, 1, 1});  // 48 and 100 inputs
  std::set<std::vector<int32_t>> eval;
  for (uint64_t i = 0; i < 100; ++i) eval.insert(suite.example(0, i, Split::Eval).prompt);
  EXPECT_GE(eval.size(), 1u);
  EXPECT_LT(eval.size(), 48u);
}

// examples/data/sft-sample.jsonl shows the JSONL format with synthetic-suite ids; it must
// load and every line must be a correct example of the task its tag names.
TEST(DataSynthetic, TheDocumentedSampleFileIsCorrect) {
  const std::string path =
      (std::filesystem::path(__FILE__).parent_path() / "../../../examples/data/sft-sample.jsonl")
          .lexically_normal()
          .string();
  const SftDataset d = load_sft_jsonl(path, {S::kVocab});
  ASSERT_GE(d.examples.size(), 3u);
  for (const Example& e : d.examples) {
    ASSERT_GE(e.prompt.size(), 4u);
    const std::string& name = S::all_tasks().at(size_t(e.prompt[1] - S::kFirstTag));
    EXPECT_EQ(d.task_names.at(size_t(e.task)), name);
    const std::vector<int32_t> x(e.prompt.begin() + 2, e.prompt.end() - 1);
    std::vector<int32_t> y = expected_answer(name, x);
    y.push_back(S::kEos);
    EXPECT_EQ(e.response, y) << name;
  }
}

TEST(DataSynthetic, BadConfigurationsAreNamed) {
  expect_error(
      [] {
        S({"copy", "multiply"}, 0);
      },
      {"unknown task 'multiply'", "known: copy, reverse, sort, shift, dedup, add"});
  expect_error([] { S({}, 0); }, {"no tasks", "known:"});
  expect_error([] { S({"copy", "copy"}, 0); }, {"'copy' listed twice"});
  expect_error([] { S({"copy"}, 0, SyntheticLengths{0, 4, 4}); }, {"min_len=0"});
  expect_error([] { S({"copy"}, 0, SyntheticLengths{5, 4, 4}); }, {"min_len=5", "max_len=4"});
  expect_error([] { S({"add"}, 0, SyntheticLengths{3, 8, 0}); }, {"max_digits", "got 0"});
  EXPECT_EQ(S({"sort"}, 0).vocab_size(), 64);
  EXPECT_EQ(S({"sort", "copy"}, 0).task_index("copy"), 1);
  EXPECT_EQ(S({"sort"}, 0).task_index("copy"), -1);
}

}  // namespace
}  // namespace neft::data
