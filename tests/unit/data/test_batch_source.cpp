// Batch sources: determinism, exact resume from position() for every source, the factory's
// specs, and positions that do not belong to the source.
#include <gtest/gtest.h>

#include "data/batch_source.h"
#include "tests/unit/data/data_testing.h"

namespace neft::data {
namespace {

using ::neft::data::testing::expect_error;
using ::neft::testing::TempDir;
using ::neft::testing::write_text;

bool same(const Batch& a, const Batch& b) {
  return a.B == b.B && a.T == b.T && a.tokens == b.tokens && a.targets == b.targets &&
         a.positions == b.positions && a.task == b.task;
}

// Files for every kind of source, small enough that a few batches cross epochs.
struct Files {
  TempDir dir;
  std::string tokens = dir.file("d.tok"), sft = dir.file("d.jsonl");
  Files() {
    std::vector<std::vector<int32_t>> docs;
    for (int d = 0; d < 7; ++d) docs.push_back(std::vector<int32_t>(size_t(5 + 3 * d), d + 1));
    write_token_file(tokens, docs, 64);
    std::string jsonl;
    for (int i = 0; i < 9; ++i) {
      std::string response;
      for (int r = 0; r < i % 3; ++r) response += "5, ";
      jsonl += "{\"prompt\": [1, " + std::to_string(10 + i) + "], \"response\": [" + response +
               "7], \"task\": \"t" + std::to_string(i % 2) + "\"}\n";
    }
    write_text(sft, jsonl);
  }
};

const std::vector<std::string> kSpecs{
    "tokens", "sft", "sft-rows", "synthetic", "synthetic-rows", "synthetic:add,sort"};

std::unique_ptr<BatchSource> make(const Files& f, const std::string& which, uint64_t seed) {
  const int64_t B = 3, T = 24;
  if (which == "tokens") return make_batch_source("tokens:" + f.tokens, B, T, seed, {64});
  if (which == "sft") return make_batch_source("sft:" + f.sft, B, T, seed, {64});
  if (which == "sft-rows") return make_batch_source("sft:" + f.sft, B, T, seed, {64, false});
  if (which == "synthetic-rows") return make_batch_source("synthetic", B, T, seed, {64, false});
  return make_batch_source(which, B, T, seed, {64});
}

class DataBatchSourceEach : public ::testing::TestWithParam<std::string> {};

TEST_P(DataBatchSourceEach, ResumesExactlyFromItsPosition) {
  Files files;
  auto run = make(files, GetParam(), 7);
  for (int i = 0; i < 5; ++i) run->next();
  // Positions travel through a checkpoint as text.
  const std::string saved = run->position().dump();
  std::vector<Batch> uninterrupted;
  for (int i = 0; i < 12; ++i) uninterrupted.push_back(run->next());

  auto resumed = make(files, GetParam(), 7);
  resumed->restore(nlohmann::json::parse(saved));
  for (int i = 0; i < 12; ++i) EXPECT_TRUE(same(resumed->next(), uninterrupted[size_t(i)])) << i;
  // And a position taken later still round-trips.
  resumed->restore(run->position());
  EXPECT_TRUE(same(resumed->next(), run->next()));
}

TEST_P(DataBatchSourceEach, SameSeedSameBatchesOtherSeedOthers) {
  Files files;
  auto a = make(files, GetParam(), 1), b = make(files, GetParam(), 1),
       c = make(files, GetParam(), 2);
  bool any_differs = false;
  for (int i = 0; i < 6; ++i) {
    const Batch x = a->next(), y = b->next(), z = c->next();
    EXPECT_TRUE(same(x, y));
    any_differs |= !same(x, z);
    EXPECT_EQ(x.B, 3);
    EXPECT_EQ(x.T, 24);
    EXPECT_EQ(x.tokens.size(), 72u);
    EXPECT_GT(x.counted(), 0);
    for (int32_t t : x.tokens) EXPECT_TRUE(t >= 0 && t < 64);
  }
  EXPECT_TRUE(any_differs);
}

TEST_P(DataBatchSourceEach, RejectsAnotherSourcesPosition) {
  Files files;
  auto source = make(files, GetParam(), 7);
  nlohmann::json p = source->position();
  p["seed"] = 8;
  expect_error([&] { source->restore(p); }, {"data position", "\"seed\" is 8", "has 7"});
  p = source->position();
  p["kind"] = "elsewhere";
  expect_error([&] { source->restore(p); },
               {"data position is for a 'elsewhere' source, not this"});
  p = source->position();
  p.erase("seed");
  expect_error([&] { source->restore(p); }, {"missing \"seed\""});
  expect_error([&] { source->restore(nlohmann::json::array()); }, {"must be a JSON object"});
}

INSTANTIATE_TEST_SUITE_P(Sources, DataBatchSourceEach, ::testing::ValuesIn(kSpecs),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (!isalnum(c)) c = '_';
                           return name;
                         });

TEST(DataBatchSource, TokenBatchesAreTheSamplersWindows) {
  Files files;
  auto source = make_batch_source("tokens:" + files.tokens, 2, 8, 3);
  const TokenSampler sampler(TokenFile(files.tokens), 8, 3);
  Batch expected = Batch::padded(2, 8);
  sampler.fill_row(sampler.window_at(0), expected, 0);
  sampler.fill_row(sampler.window_at(1), expected, 1);
  EXPECT_TRUE(same(source->next(), expected));
}

TEST(DataBatchSource, SyntheticRowsInterleaveTasksRoundRobin) {
  auto source = make_batch_source("synthetic:sort,add,copy", 4, 32, 5, {0, false});
  const SyntheticSuite suite({"sort", "add", "copy"}, 5);
  const Batch b = source->next();
  EXPECT_EQ(b.task, (std::vector<int32_t>{0, 1, 2, 0}));
  const Example second_sort = suite.example(0, 1);  // stream example 3, row 3
  const auto row3 = b.tokens.begin() + 3 * 32;
  EXPECT_EQ(std::vector<int32_t>(row3, row3 + int64_t(second_sort.prompt.size())),
            second_sort.prompt);
  EXPECT_EQ(source->next().task, (std::vector<int32_t>{1, 2, 0, 1}));
  // Packed rows hold several examples, each starting at position 0.
  const Batch packed = make_batch_source("synthetic", 1, 64, 5)->next();
  EXPECT_GE(std::count(packed.positions.begin(), packed.positions.end(), 0) -
                std::count(packed.tokens.begin(), packed.tokens.end(), 0),
            2);
}

TEST(DataBatchSource, AnSftPositionDoesNotResumeOverEditedData) {
  TempDir dir;
  const std::string path = dir.file("a.jsonl");
  write_text(path, "{\"prompt\": [1], \"response\": [2]}\n{\"prompt\": [1], \"response\": [3]}\n");
  const nlohmann::json p = make_batch_source("sft:" + path, 2, 8, 0)->position();
  write_text(path, "{\"prompt\": [1], \"response\": [2]}\n{\"prompt\": [1], \"response\": [4]}\n");
  expect_error([&] { make_batch_source("sft:" + path, 2, 8, 0)->restore(p); },
               {"data position: \"fingerprint\" is"});
}

TEST(DataBatchSource, BadSpecsAreNamed) {
  Files files;
  const std::string known = "synthetic, synthetic:TASK[,TASK...], tokens:PATH, sft:PATH.jsonl";
  expect_error([] { make_batch_source("imagenet", 2, 8, 0); }, {"data spec 'imagenet'", known});
  expect_error([] { make_batch_source("tokens:", 2, 8, 0); }, {"data spec 'tokens:'"});
  expect_error([] { make_batch_source("sft", 2, 8, 0); }, {"data spec 'sft'"});
  expect_error([] { make_batch_source("synthetic:", 2, 32, 0); }, {"'synthetic:'", "no tasks"});
  expect_error([] { make_batch_source("synthetic:copy,,add", 2, 32, 0); }, {"empty task name"});
  expect_error([] { make_batch_source("synthetic:copy,mul", 2, 32, 0); },
               {"unknown task 'mul'", "known: copy"});
  expect_error([] { make_batch_source("synthetic", 2, 32, 0, {32}); }, {"vocab >= 64", "32"});
  expect_error([] { make_batch_source("synthetic", 2, 16, 0); },
               {"more than the sequence length T=16"});
  expect_error([] { make_batch_source("synthetic", 0, 32, 0); }, {"B=0"});
  expect_error([&] { make_batch_source("tokens:" + files.tokens, 2, 8, 0, {5}); },
               {files.tokens, "not below vocab 5"});
  expect_error([&] { make_batch_source("sft:" + files.sft, 2, 24, 0, {10}); },
               {files.sft + ":1: ", "outside [0, 10)"});
  expect_error([&] { make_batch_source("tokens:" + files.dir.file("none"), 2, 8, 0); },
               {files.dir.file("none"), "cannot open"});
}

}  // namespace
}  // namespace neft::data
