// `neft train --lora-rank` as a user runs it: the adapters train while every weight stays as
// loaded; checkpoints and model/ carry the adapter in PEFT's format beside the base, which
// `neft eval` attaches and `neft merge` folds in (the same scores); an interrupted run resumes
// to the uninterrupted one's losses bit for bit, with dropout too (its masks are a function of
// the step, not of the process); evaluation drops nothing; and bad LoRA options are one-line
// errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/hf_checkpoint.h"
#include "model/safetensors.h"
#include "tests/e2e/cli_run.h"
#include "tests/unit/jsonl.h"
#include "tests/unit/temp_dir.h"

namespace neft::launch {
namespace {

using ::neft::testing::TempDir;
using namespace ::neft::launch::testing;
namespace fs = std::filesystem;

const std::vector<std::string> kData = {"--tasks", "copy,shift", "--seq-len",     "32",
                                        "--seed",  "7",          "--micro-batch", "4"};

std::string make_base(const TempDir& dir) {
  return ::neft::launch::testing::make_base(dir.file("base"), kData);
}

std::vector<double> losses(const std::string& run) {
  std::vector<double> out;
  for (const nlohmann::json& r : ::neft::testing::read_jsonl(run + "/metrics.jsonl"))
    if (r.contains("loss")) out.push_back(r["loss"]);
  return out;
}

std::vector<std::string> lora_run(const std::string& base, const std::string& out) {
  return with({"train", "--init", base, "--out", out, "--steps", "8", "--save-every", "4",
               "--log-every", "100", "--eval-examples", "8", "--lora-rank", "4", "--lora-targets",
               "q,v,down", "--lr", "0.01"},
              kData);
}

nlohmann::json eval_json(const std::string& model) {
  const Result r = neft(with({"eval", "--model", model, "--examples", "8", "--json"}, kData));
  EXPECT_EQ(r.status, 0) << r.err;
  return nlohmann::json::parse(r.out)["tasks"];
}

TEST(LoraE2E, TrainsTheAdaptersAloneAndEvalMergeAndResumeAgree) {
  TempDir dir;
  const std::string base = make_base(dir), run = dir.file("run");
  const Result r = neft(lora_run(base, run));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* f :
       {"model/adapter_config.json", "model/adapter_model.safetensors", "model/model.safetensors",
        "checkpoints/step-00000004/rank-00000.safetensors"})
    EXPECT_TRUE(fs::exists(run + "/" + f)) << f;
  // The base weights are the loaded ones, bit for bit.
  const model::Checkpoint before(base), after(run + "/model");
  for (const std::string& name : before.names())
    EXPECT_EQ(after.read(name, DType::F32).to_floats(), before.read(name, DType::F32).to_floats())
        << name;

  // eval attaches the adapter; the merged model scores the same (one rounding of W + s B A).
  const nlohmann::json adapted = eval_json(run + "/model");
  ASSERT_EQ(neft({"merge", "--base", run + "/model", "--out", dir.file("merged")}).status, 0);
  const nlohmann::json merged = eval_json(dir.file("merged"));
  const nlohmann::json plain = eval_json(base);
  for (const char* task : {"copy", "shift"}) {
    EXPECT_NEAR(merged[task]["loss"].get<double>(), adapted[task]["loss"].get<double>(), 1e-5);
    EXPECT_NE(plain[task]["loss"], adapted[task]["loss"]);  // the adapter trained
  }

  // Interrupted after 5 steps (checkpoint at 4), resumed: the same losses, bit for bit.
  const std::string cut = dir.file("cut");
  ASSERT_EQ(neft(with(lora_run(base, cut), {"--stop-after", "5"})).status, 0);
  ASSERT_EQ(neft(with(lora_run(base, cut), {"--resume"})).status, 0);
  EXPECT_EQ(losses(cut), losses(run));
}

// The adapter's tensors in a model directory, by name.
std::vector<std::vector<float>> adapter_values(const std::string& model) {
  const model::SafetensorsFile f(model + "/adapter_model.safetensors");
  std::vector<std::vector<float>> out;
  for (const std::string& name : f.names()) out.push_back(f.read(name, DType::F32).to_floats());
  return out;
}

TEST(LoraE2E, DropoutResumesBitForBitAndEvaluationDropsNothing) {
  TempDir dir;
  const std::string base = make_base(dir), run = dir.file("run"), plain = dir.file("plain");
  const std::vector<std::string> dropout = {"--lora-dropout", "0.25"};
  ASSERT_EQ(neft(with(lora_run(base, run), dropout)).status, 0);
  ASSERT_EQ(neft(lora_run(base, plain)).status, 0);
  EXPECT_NE(losses(run), losses(plain));  // the masks change the training
  // PEFT's config says what the adapter trained with.
  const nlohmann::json config =
      nlohmann::json::parse(std::ifstream(run + "/model/adapter_config.json"));
  EXPECT_EQ(config["lora_dropout"], 0.25);

  // Interrupted after 5 steps (checkpoint at 4), resumed in a new process: the masks of
  // steps 5 to 8 are drawn again from their keys, and the run is the uninterrupted one's.
  const std::string cut = dir.file("cut");
  ASSERT_EQ(neft(with(with(lora_run(base, cut), dropout), {"--stop-after", "5"})).status, 0);
  ASSERT_EQ(neft(with(with(lora_run(base, cut), dropout), {"--resume"})).status, 0);
  EXPECT_EQ(losses(cut), losses(run));
  EXPECT_EQ(adapter_values(cut + "/model"), adapter_values(run + "/model"));

  // Evaluation of the adapter equals that of the same adapter saved as trained without
  // dropout, to the last digit.
  const std::string copy = dir.file("copy");
  fs::copy(run + "/model", copy, fs::copy_options::recursive);
  nlohmann::json zero = config;
  zero["lora_dropout"] = 0.0;
  std::ofstream(copy + "/adapter_config.json") << zero.dump(2);
  EXPECT_EQ(eval_json(run + "/model"), eval_json(copy));
}

TEST(LoraE2E, BadLoraOptionsAreOneLineErrors) {
  TempDir dir;
  const std::string base = make_base(dir);
  const std::vector<std::string> train = {"train", "--init", base, "--out", dir.file("x")};
  expect_one_line_error(neft(with(train, {"--lora-rank", "0"})), {"--lora-rank", "at least 1"});
  // Above a target's smaller side.
  expect_one_line_error(neft(with(train, {"--lora-rank", "100000"})),
                        {"lora: rank 100000", "must be between 1 and"});
  expect_one_line_error(neft(with(train, {"--lora-rank", "4", "--lora-targets", "q,lm_head"})),
                        {"--lora-targets", "unknown target 'lm_head'"});
  expect_one_line_error(neft(with(train, {"--lora-alpha", "8"})), {"--lora-alpha", "--lora-rank"});
  expect_one_line_error(neft(with(train, {"--lora-rank", "4", "--lora-dropout", "1"})),
                        {"--lora-dropout", "less than 1"});
  expect_one_line_error(neft(with(train, {"--lora-dropout", "0.1"})),
                        {"--lora-dropout", "--lora-rank"});
  expect_one_line_error(neft({"merge", "--base", base, "--out", dir.file("m")}),
                        {"nothing to merge"});
}

}  // namespace
}  // namespace neft::launch
