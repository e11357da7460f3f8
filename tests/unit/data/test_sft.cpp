// Supervised examples: loss masks, packing, and the JSONL loader's errors.
#include <gtest/gtest.h>

#include "data/batch_source.h"
#include "data/example.h"
#include "data/sft.h"
#include "tests/unit/data/data_testing.h"

namespace neft::data {
namespace {

using ::neft::data::testing::expect_error;
using ::neft::testing::TempDir;
using ::neft::testing::write_text;

constexpr int32_t I = kIgnoreIndex;

TEST(DataExample, TargetsPredictOnlyTheResponse) {
  Batch b = Batch::padded(1, 8);
  const Example e{{5, 6, 7}, {8, 9}, 2};
  EXPECT_EQ(place_example(e, b, 0, 0), 5);
  EXPECT_EQ(b.tokens, (std::vector<int32_t>{5, 6, 7, 8, 9, 0, 0, 0}));
  // At p3=7 predict r1=8, at r1 predict r2=9; nothing after the last response token.
  EXPECT_EQ(b.targets, (std::vector<int32_t>{I, I, 8, 9, I, I, I, I}));
  EXPECT_EQ(b.positions, (std::vector<int32_t>{0, 1, 2, 3, 4, 0, 0, 0}));
  EXPECT_EQ(b.task, (std::vector<int32_t>{2}));
  EXPECT_EQ(b.counted(), 2);
}

std::vector<Example> four_examples() {
  return {{{1, 2}, {3}, 0}, {{4, 5}, {6, 7}, 0}, {{8}, {9}, 1}, {{10, 11, 12}, {13, 14}, 0}};
}

TEST(DataExample, PackingPlacesWholeExamplesGreedily) {
  const std::vector<Example> ex = four_examples();                     // 3, 4, 2 and 5 tokens
  const ExampleAt at = [&](uint64_t k) { return ex[k % ex.size()]; };  // endless, like sources
  Batch b = Batch::padded(2, 8);
  uint64_t cursor = 0;
  fill_rows(b, /*packed=*/true, cursor, at);
  EXPECT_EQ(cursor, 4u);
  EXPECT_EQ(b.tokens,
            (std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 0, /**/ 8, 9, 10, 11, 12, 13, 14, 0}));
  EXPECT_EQ(b.targets,
            (std::vector<int32_t>{I, 3, I, I, 6, 7, I, I, /**/ 9, I, I, I, 13, 14, I, I}));
  EXPECT_EQ(b.positions,
            (std::vector<int32_t>{0, 1, 2, 0, 1, 2, 3, 0, /**/ 0, 1, 0, 1, 2, 3, 4, 0}));
  EXPECT_EQ(b.task, (std::vector<int32_t>{0, -1}));  // row 1 mixes tasks 1 and 0
  EXPECT_EQ(b.real_tokens(), 14);  // 3 + 4 + 2 + 5 of the 16: throughput counts no padding

  // An example that does not fit is not split: it opens the next row, here the next batch.
  Batch first = Batch::padded(1, 8), second = Batch::padded(1, 8);
  cursor = 0;
  fill_rows(first, true, cursor, at);
  EXPECT_EQ(cursor, 2u);
  fill_rows(second, true, cursor, at);
  EXPECT_EQ(cursor, 4u);
  EXPECT_EQ(second.tokens, (std::vector<int32_t>{8, 9, 10, 11, 12, 13, 14, 0}));
}

TEST(DataExample, UnpackedPutsOneExamplePerRow) {
  const std::vector<Example> ex = four_examples();
  Batch b = Batch::padded(3, 6);
  uint64_t cursor = 1;
  fill_rows(b, /*packed=*/false, cursor, [&](uint64_t k) { return ex.at(k); });
  EXPECT_EQ(cursor, 4u);
  EXPECT_EQ(b.tokens, (std::vector<int32_t>{4, 5, 6, 7, 0, 0, /**/ 8, 9, 0, 0, 0, 0,
                                            /**/ 10, 11, 12, 13, 14, 0}));
  EXPECT_EQ(b.targets, (std::vector<int32_t>{I, 6, 7, I, I, I, /**/ 9, I, I, I, I, I,
                                             /**/ I, I, 13, 14, I, I}));
  EXPECT_EQ(b.task, (std::vector<int32_t>{0, 1, 0}));
  EXPECT_EQ(b.real_tokens(), 11);  // 4 + 2 + 5 of the 18
}

TEST(DataExample, AnExampleLongerThanTFails) {
  const std::vector<Example> ex = four_examples();
  Batch b = Batch::padded(1, 4);
  uint64_t cursor = 3;
  const ExampleAt at = [&](uint64_t k) { return ex.at(k); };
  expect_error([&] { fill_rows(b, true, cursor, at); }, {"example 3 has 5 tokens", "T=4"});
}

TEST(DataSft, LoadsExamplesTasksAndLineNumbers) {
  TempDir dir;
  const std::string path = dir.file("a.jsonl");
  write_text(path,
             "{\"prompt\": [1, 2], \"response\": [3], \"task\": \"x\", \"id\": 17}\n"
             "\n"
             "{\"prompt\": [4], \"response\": [5, 6], \"task\": \"y\"}\r\n"
             "{\"prompt\": [7], \"response\": [8]}\n"
             "{\"prompt\": [9], \"response\": [10], \"task\": \"x\"}");
  const SftDataset d = load_sft_jsonl(path, {11});
  ASSERT_EQ(d.examples.size(), 4u);
  EXPECT_EQ(d.lines, (std::vector<int64_t>{1, 3, 4, 5}));
  EXPECT_EQ(d.task_names, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(d.examples[0].prompt, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(d.examples[1].response, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(d.examples[0].task, 0);
  EXPECT_EQ(d.examples[1].task, 1);
  EXPECT_EQ(d.examples[2].task, -1);
  EXPECT_EQ(d.examples[3].task, 0);
}

struct BadLine {
  std::string line, problem;
};

class DataSftBadLine : public ::testing::TestWithParam<BadLine> {};

TEST_P(DataSftBadLine, NamesFileLineAndProblem) {
  TempDir dir;
  const std::string path = dir.file("bad.jsonl");
  write_text(path, "{\"prompt\": [1], \"response\": [2]}\n" + GetParam().line + "\n");
  expect_error([&] { load_sft_jsonl(path, {50}); }, {path + ":2: ", GetParam().problem});
}

INSTANTIATE_TEST_SUITE_P(
    Errors, DataSftBadLine,
    ::testing::Values(
        BadLine{"{\"prompt\": [1], \"response\": [2]", "invalid JSON"},
        BadLine{"prompt=[1]", "invalid JSON"},
        BadLine{std::string(100000, '['), "nested deeper than 64 levels"},
        BadLine{std::string("{\"prompt\": [1], \"response\": [2]}\0junk", 39), "NUL byte"},
        BadLine{"{\"prompt\": [1], \"response\": [1e999]}",
                "key 'response': number 1e999 is beyond the range of a double"},
        BadLine{"[1, 2]", "expected a JSON object"},
        BadLine{"{\"response\": [2]}", "expected \"messages\", \"prompt\" and \"completion\""},
        BadLine{"{\"answer\": 1}", "expected \"messages\", \"prompt\" and \"completion\""},
        BadLine{"{\"text\": 3}", "\"text\" must be a string"},
        BadLine{"{\"text\": \"hello\"}", "text needs the model's tokenizer"},
        BadLine{"{\"messages\": [{\"role\": \"user\"}]}",
                "\"messages\"[0] must be {\"role\": string, \"content\": string}"},
        BadLine{"{\"prompt\": \"a\", \"choices\": [\"b\", \"c\"], \"answer\": 0}",
                "multiple-choice item (\"choices\") is for evaluation"},
        BadLine{"{\"prompt\": [1]}", "missing \"response\""},
        BadLine{"{\"prompt\": \"hello\", \"response\": [2]}",
                "\"prompt\" must be an array of integer token ids"},
        BadLine{"{\"prompt\": [1, 2.5], \"response\": [2]}",
                "\"prompt\"[1] is 2.5, not an integer"},
        BadLine{"{\"prompt\": [1], \"response\": [\"a\"]}",
                "\"response\"[0] is string, not an integer"},
        BadLine{"{\"prompt\": [1], \"response\": [2, 50]}",
                "\"response\"[1] = 50 is outside [0, 50)"},
        BadLine{"{\"prompt\": [-3], \"response\": [2]}", "\"prompt\"[0] = -3 is outside"},
        BadLine{"{\"prompt\": [1], \"response\": []}", "\"response\" is empty"},
        BadLine{"{\"prompt\": [], \"response\": [2]}", "\"prompt\" is empty"},
        BadLine{"{\"prompt\": [1], \"response\": [2], \"task\": 3}", "\"task\" must be a string"}));

// --tasks on sft data: only the named tasks' lines, the tasks in the order asked for (what
// `neft continual` trains each stage on); a task with no line is an error naming the file and
// the tasks it has.
TEST(DataSft, TasksKeepOnlyTheirLinesInTheOrderAsked) {
  TempDir dir;
  const std::string path = dir.file("a.jsonl");
  write_text(path,
             "{\"prompt\": [1], \"response\": [2], \"task\": \"x\"}\n"
             "{\"prompt\": [3], \"response\": [4], \"task\": \"y\"}\n"
             "{\"prompt\": [5], \"response\": [6]}\n"
             "{\"prompt\": [7], \"response\": [8], \"task\": \"z\"}\n"
             "{\"prompt\": [9], \"response\": [10], \"task\": \"x\"}\n");
  const SftDataset d = load_sft_jsonl(path, {11, "", false, {"z", "x"}});
  EXPECT_EQ(d.task_names, (std::vector<std::string>{"z", "x"}));
  EXPECT_EQ(d.lines, (std::vector<int64_t>{1, 4, 5}));
  std::vector<int> tasks;
  for (const Example& e : d.examples) tasks.push_back(e.task);
  EXPECT_EQ(tasks, (std::vector<int>{1, 0, 1}));
  expect_error(
      [&] {
        load_sft_jsonl(path, {11, "", false, {"x", "w"}});
      },
      {path, "no line of task 'w'", "x, y, z"});
  expect_error(
      [&] {
        make_batch_source("tokens:" + path, 1, 4, 0, {11, true, "", {"x"}});
      },
      {"a token file has no tasks"});
}

TEST(DataSft, FileLevelErrorsNameTheFile) {
  TempDir dir;
  expect_error([&] { load_sft_jsonl(dir.file("none.jsonl")); },
               {dir.file("none.jsonl"), "cannot open"});
  write_text(dir.file("empty.jsonl"), "\n  \n");
  expect_error([&] { load_sft_jsonl(dir.file("empty.jsonl")); },
               {dir.file("empty.jsonl"), "no examples"});
  // Without a vocab, ids must still fit int32.
  write_text(dir.file("big.jsonl"), "{\"prompt\": [1], \"response\": [4294967296]}\n");
  expect_error([&] { load_sft_jsonl(dir.file("big.jsonl")); },
               {dir.file("big.jsonl") + ":1: ", "outside"});
}

TEST(DataSft, AnExampleLongerThanTNamesItsLine) {
  TempDir dir;
  const std::string path = dir.file("long.jsonl");
  write_text(path,
             "{\"prompt\": [1], \"response\": [2]}\n"
             "{\"prompt\": [1, 2, 3], \"response\": [4, 5]}\n");
  expect_error([&] { SftBatchSource s(load_sft_jsonl(path), 2, 4, 0); },
               {path + ":2: ", "5 tokens", "T=4"});
  EXPECT_NO_THROW(SftBatchSource(load_sft_jsonl(path), 2, 5, 0));
}

}  // namespace
}  // namespace neft::data
