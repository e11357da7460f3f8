// `neft continual` as a user runs it: each method leaves a stage directory per task and one
// record per stage (the accuracy on every task), the summary is the average of the last row
// and the backward transfer; a run stopped mid-stage and resumed records what the
// uninterrupted one does, bit for bit; bad input is one line naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

#include <nlohmann/json.hpp>

#include "data/synthetic.h"
#include "launch/continual.h"
#include "tests/e2e/cli_run.h"
#include "tests/unit/jsonl.h"
#include "tests/unit/temp_dir.h"

namespace neft::launch {
namespace {

using ::neft::testing::TempDir;
using namespace ::neft::launch::testing;
namespace fs = std::filesystem;

const std::vector<std::string> kData = {"--seq-len", "32", "--seed", "7", "--micro-batch", "4"};

std::vector<std::string> continual(const std::string& base, const std::string& out,
                                   const std::string& method) {
  return with({"continual",
               "--init",
               base,
               "--out",
               out,
               "--tasks",
               "copy,reverse",
               "--method",
               method,
               "--steps",
               "6",
               "--save-every",
               "3",
               "--log-every",
               "100",
               "--eval-examples",
               "8",
               "--score-batches",
               "2",
               "--lr",
               "0.01"},
              kData);
}

// The records without the model paths (which name the run's directory).
std::vector<nlohmann::json> records(const std::string& run) {
  std::vector<nlohmann::json> r = ::neft::testing::read_jsonl(run + "/continual.jsonl");
  for (nlohmann::json& x : r) x.erase("model");
  return r;
}

TEST(Continual, SummaryIsTheLastRowsMeanAndTheBackwardTransfer) {
  const ContinualSummary s =
      summarize_continual({{0.9, 0.1, 0.0}, {0.5, 0.8, 0.2}, {0.3, 0.6, 0.9}});
  EXPECT_DOUBLE_EQ(s.average, (0.3 + 0.6 + 0.9) / 3);
  EXPECT_DOUBLE_EQ(s.bwt, ((0.3 - 0.9) + (0.6 - 0.8)) / 2);
  EXPECT_DOUBLE_EQ(summarize_continual({{0.7}}).bwt, 0.0);
}

TEST(ContinualE2E, EachMethodRecordsEveryStageAndResumesBitwise) {
  TempDir dir;
  const std::string base = make_base(dir.file("base"), with({"--tasks", "copy,reverse"}, kData));
  std::vector<nlohmann::json> ncft;
  for (const char* method : {"ncft", "wncft", "seqft", "seqlora"}) {
    const std::string run = dir.file(std::string("run-") + method);
    const Result r = neft(continual(base, run, method));
    ASSERT_EQ(r.status, 0) << method << ": " << r.err;
    EXPECT_NE(r.out.find("| 2 reverse |"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("backward transfer"), std::string::npos) << r.out;
    const std::vector<nlohmann::json> rec = records(run);
    ASSERT_EQ(rec.size(), 2u) << method;
    EXPECT_EQ(rec[1]["task"], "reverse");
    EXPECT_EQ(rec[1]["accuracy"].size(), 2u);
    EXPECT_TRUE(fs::exists(run + "/stage-1-copy"));
    if (std::string(method) == "ncft") {
      EXPECT_TRUE(fs::exists(run + "/stage-2-reverse/neurons.safetensors"));
      ncft = rec;
    }
    // W-NCFT trains as NCFT; after one stage its one task weighs 1: the same model.
    if (std::string(method) == "wncft") {
      EXPECT_EQ(rec[0]["accuracy"], ncft[0]["accuracy"]);
      EXPECT_EQ(rec[0]["loss"], ncft[0]["loss"]);
    }
    if (std::string(method) == "seqlora") {
      EXPECT_TRUE(fs::exists(run + "/stage-1-copy/merged/model.safetensors"));
    }

    // Stopped in stage 1 after a checkpoint, then in stage 2, then resumed to the end.
    const std::string cut = dir.file(std::string("cut-") + method);
    for (const std::vector<std::string>& more : {std::vector<std::string>{"--stop-after", "4"},
                                                 {"--stop-after", "4", "--resume"},
                                                 {"--resume"}}) {
      const Result part = neft(with(continual(base, cut, method), more));
      ASSERT_EQ(part.status, 0) << method << ": " << part.err;
      if (more.size() == 2) {
        EXPECT_FALSE(fs::exists(cut + "/continual.jsonl"));
      }
      if (more.size() == 3) {
        EXPECT_EQ(records(cut).size(), 1u);
      }
    }
    EXPECT_EQ(records(cut), rec) << method;
  }
}

// seqlora's stages train with the LoRA options given, --lora-dropout among them: each stage's
// adapter says so in PEFT's config, and the stages train otherwise than without it.
TEST(ContinualE2E, SeqloraTrainsEachStageWithTheLoraDropoutGiven) {
  TempDir dir;
  const std::string base = make_base(dir.file("base"), with({"--tasks", "copy,reverse"}, kData));
  const std::string run = dir.file("run"), plain = dir.file("plain");
  const Result r = neft(with(continual(base, run, "seqlora"), {"--lora-dropout", "0.25"}));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* stage : {"stage-1-copy", "stage-2-reverse"}) {
    const nlohmann::json config =
        nlohmann::json::parse(std::ifstream(run + "/" + stage + "/model/adapter_config.json"));
    EXPECT_EQ(config["lora_dropout"], 0.25) << stage;
  }
  ASSERT_EQ(neft(continual(base, plain, "seqlora")).status, 0);
  EXPECT_NE(records(run), records(plain));
}

// Tasks from the user's data: an sft file whose lines name their "task" (here the synthetic
// suite's copy and reverse written as token ids, so the tiny base can learn them). Each stage
// trains on its task's lines and is evaluated on every task's held-out lines; W-NCFT's
// records hold NCFT's matrix as "unweighted", equal to the NCFT run's bit for bit (the same
// training), and after the first stage the weighted and unweighted answers agree.
TEST(ContinualE2E, TasksFromAnSftFileAndWncftRecordsNcftsMatrixToo) {
  TempDir dir;
  const std::string base = make_base(dir.file("base"), with({"--tasks", "copy,reverse"}, kData));
  const data::SyntheticSuite suite({"copy", "reverse"}, 7);
  for (const auto& [file, split, count] :
       {std::tuple{"train.jsonl", data::Split::Train, 64}, {"held.jsonl", data::Split::Eval, 8}}) {
    std::string text;
    for (int i = 0; i < count; ++i)
      for (int task : {0, 1}) {
        const data::Example e = suite.example(task, uint64_t(i), split);
        text +=
            nlohmann::json{
                {"task", suite.task_name(task)}, {"prompt", e.prompt}, {"response", e.response}}
                .dump() +
            "\n";
      }
    ::neft::testing::write_text(dir.file(file), text);
  }
  const std::vector<std::string> sft = {"--data", "sft:" + dir.file("train.jsonl"), "--eval-data",
                                        "sft:" + dir.file("held.jsonl")};
  std::map<std::string, std::vector<nlohmann::json>> rec;
  for (const char* method : {"ncft", "wncft"}) {
    const std::string run = dir.file(std::string("run-") + method);
    const Result r = neft(with(continual(base, run, method), sft));
    ASSERT_EQ(r.status, 0) << method << ": " << r.err;
    rec[method] = records(run);
    ASSERT_EQ(rec[method].size(), 2u);
    EXPECT_EQ(rec[method][1]["accuracy"].size(), 2u);
    EXPECT_GT(rec[method][1]["loss"]["copy"].get<double>(), 0.0);
  }
  EXPECT_NE(neft(with(continual(base, dir.file("run-wncft"), "wncft"), with(sft, {"--resume"})))
                .out.find("the same training unweighted"),
            std::string::npos);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(rec["wncft"][i]["unweighted"]["accuracy"], rec["ncft"][i]["accuracy"]) << i;
    EXPECT_EQ(rec["wncft"][i]["unweighted"]["loss"], rec["ncft"][i]["loss"]) << i;
  }
  EXPECT_EQ(rec["wncft"][0]["accuracy"], rec["ncft"][0]["accuracy"]);

  // A task the files do not have, and sft data without held-out data.
  expect_one_line_error(
      neft(with({"continual", "--init", base, "--out", dir.file("bad"), "--tasks", "copy,sort"},
                sft)),
      {"train.jsonl", "no line of task 'sort'", "copy, reverse"});
  EXPECT_FALSE(fs::exists(dir.file("bad")));
  expect_one_line_error(neft({"continual", "--init", base, "--out", dir.file("bad"), "--tasks",
                              "copy,reverse", "--data", "sft:" + dir.file("train.jsonl")}),
                        {"--eval-data", "held-out"});
}

TEST(ContinualE2E, BadInputIsAOneLineError) {
  TempDir dir;
  const std::vector<std::string> c = {"continual", "--init", "x", "--out", dir.file("run")};
  expect_one_line_error(neft(with(c, {"--tasks", "copy,revrse"})), {"unknown task 'revrse'"});
  EXPECT_FALSE(fs::exists(dir.file("run")));
  expect_one_line_error(neft(with(c, {"--tasks", "copy"})), {"--tasks", "at least two"});
  expect_one_line_error(neft({"continual", "--tasks", "copy,reverse"}), {"missing --init"});
  expect_one_line_error(neft(with(c, {"--tasks", "copy,reverse", "--method", "ewc"})),
                        {"--method", "ewc"});
  expect_one_line_error(neft(with(c, {"--tasks", "copy,reverse", "--lora-rank", "4"})),
                        {"--lora-rank", "seqlora"});
  expect_one_line_error(neft(with(c, {"--tasks", "copy,reverse", "--pp", "2"})), {"--pp"});
}

}  // namespace
}  // namespace neft::launch
