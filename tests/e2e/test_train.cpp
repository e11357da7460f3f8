// `neft train` and `neft eval` end to end, through the command line as a user runs them:
// an interrupted run resumed from its last checkpoint reproduces the uninterrupted run
// bitwise, an HF-format model trains, and bad input ends in one line naming the file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "launch/cli.h"
#include "model/safetensors.h"
#include "tests/e2e/cli_run.h"
#include "tests/unit/temp_dir.h"

namespace neft::launch {
namespace {

using ::neft::testing::TempDir;
using ::testing::HasSubstr;
using namespace ::neft::launch::testing;
namespace fs = std::filesystem;

// A small, quick run: the tiny preset on short synthetic sequences, two micro-batches a step.
std::vector<std::string> train_args(const std::string& out, int steps = 12) {
  return {"train",
          "--out",
          out,
          "--steps",
          std::to_string(steps),
          "--seq-len",
          "40",
          "--micro-batch",
          "4",
          "--grad-accum",
          "2",
          "--warmup",
          "3",
          "--save-every",
          "4",
          "--eval-examples",
          "4",
          "--log-every",
          "100"};
}

// step -> loss as written to metrics.jsonl (JSON numbers read back exactly).
std::map<int64_t, double> losses(const std::string& out) {
  std::map<int64_t, double> by_step;
  std::ifstream in(out + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) by_step[j["step"].get<int64_t>()] = j["loss"].get<double>();
  }
  return by_step;
}

std::map<std::string, std::vector<float>> weights(const std::string& model_dir) {
  const model::Checkpoint ckpt(model_dir);
  std::map<std::string, std::vector<float>> all;
  for (const std::string& name : ckpt.names()) all[name] = ckpt.read(name, DType::F32).to_floats();
  return all;
}

TEST(TrainE2E, ResumedRunReproducesTheUninterruptedRunBitwise) {
  TempDir dir;
  const std::string whole = dir.file("whole"), broken = dir.file("broken");
  ASSERT_EQ(neft(train_args(whole)).status, 0);
  // Killed after step 7: the last checkpoint is step 4, so steps 5..7 are redone.
  ASSERT_EQ(neft(with(train_args(broken), {"--stop-after", "7"})).status, 0);
  EXPECT_FALSE(fs::exists(broken + "/model"));
  EXPECT_EQ(losses(broken).size(), 7u);
  const Result resumed = neft(with(train_args(broken), {"--resume"}));
  ASSERT_EQ(resumed.status, 0) << resumed.err;

  const auto expected = losses(whole);
  ASSERT_EQ(expected.size(), 12u);
  EXPECT_EQ(losses(broken), expected);
  EXPECT_EQ(weights(broken + "/model"), weights(whole + "/model"));
}

// A checkpoint as --model (its config.json gives the shapes) or --init evaluates as the model
// it holds: here the final one, so the same numbers as model/.
TEST(TrainE2E, ACheckpointEvaluatesAsItsModel) {
  TempDir dir;
  const std::string out = dir.file("run");
  ASSERT_EQ(neft(train_args(out, 4)).status, 0);
  auto eval = [&](std::vector<std::string> model) {
    model.insert(model.begin(), "eval");
    const Result r = neft(with(model, {"--examples", "4", "--json"}));
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(r.out)["tasks"];
  };
  const std::string checkpoint = out + "/checkpoints/step-00000004";
  const nlohmann::json want = eval({"--model", out + "/model"});
  EXPECT_EQ(eval({"--model", checkpoint}), want);
  EXPECT_EQ(eval({"--model", "tiny", "--init", checkpoint}), want);
}

// A neuron-level checkpoint holds the trained rows only: resumed from other frozen weights
// (here another seed's random initialisation) it is refused in one line, the run untouched.
TEST(TrainE2E, ANeuronLevelRunResumesOnlyFromItsOwnBase) {
  TempDir dir;
  const std::string out = dir.file("run"), scores = dir.file("scores.safetensors"),
                    neurons = dir.file("neurons.safetensors");
  const std::vector<std::string> data = {"--model", "tiny",          "--seq-len",
                                         "40",      "--micro-batch", "4"};
  ASSERT_EQ(neft(with({"score", "--scorer", "random", "--out", scores}, data)).status, 0);
  ASSERT_EQ(neft({"select", "--model", "tiny", "--scores", scores, "--out", neurons}).status, 0);
  const std::vector<std::string> run =
      with(with({"train", "--neurons", neurons, "--steps", "4", "--save-every", "2", "--out", out},
                data),
           {"--eval-examples", "2"});
  ASSERT_EQ(neft(with(run, {"--stop-after", "2"})).status, 0);
  const Result other = neft(with(run, {"--resume", "--seed", "7"}));
  EXPECT_EQ(other.status, 1);
  EXPECT_THAT(other.err, HasSubstr("trained from other frozen weights"));
  EXPECT_EQ(std::count(other.err.begin(), other.err.end(), '\n'), 1) << other.err;
  EXPECT_EQ(neft(with(run, {"--resume"})).status, 0);
}

TEST(TrainE2E, AFreshRunRefusesToOverwriteAnExistingOne) {
  TempDir dir;
  const std::string out = dir.file("run");
  ASSERT_EQ(neft(train_args(out, 4)).status, 0);
  const Result again = neft(train_args(out, 4));
  EXPECT_EQ(again.status, 1);
  EXPECT_THAT(again.err, HasSubstr("pass --resume"));
}

TEST(TrainE2E, AnHfModelTrainsAndItsSavedModelEvaluates) {
  TempDir dir;
  // The golden fixture is a model saved by HF transformers (vocab 96 >= the suite's 64).
  const std::string hf = std::string(NEFT_SOURCE_DIR) + "/tests/golden/gqa_untied";
  const std::string out = dir.file("run");
  const Result r = neft({"train", "--model", hf, "--out", out, "--steps", "3", "--seq-len", "40",
                         "--micro-batch", "2", "--eval-examples", "2", "--warmup", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  const Result e =
      neft({"eval", "--model", out + "/model", "--examples", "4", "--seq-len", "40", "--json"});
  ASSERT_EQ(e.status, 0) << e.err;
}

// Bad input: exit status 1 and one line naming the file and what is wrong with it.
void copy_fixture(const std::string& to) {
  fs::create_directories(to);
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(std::string(NEFT_SOURCE_DIR) + "/tests/golden/gqa_untied/" + f, to + "/" + f);
}

TEST(TrainE2E, TruncatedWeightsFileIsAOneLineError) {
  TempDir dir;
  const std::string model = dir.file("model");
  copy_fixture(model);
  fs::resize_file(model + "/model.safetensors", fs::file_size(model + "/model.safetensors") / 2);
  expect_one_line_error(neft({"train", "--model", model, "--out", dir.file("run")}),
                        {"model.safetensors", "truncated"});
}

TEST(TrainE2E, MissingWeightsFileIsAOneLineError) {
  TempDir dir;
  expect_one_line_error(neft({"train", "--init", dir.file("nowhere"), "--out", dir.file("run")}),
                        {dir.file("nowhere")});
}

TEST(TrainE2E, InconsistentConfigIsAOneLineError) {
  TempDir dir;
  const std::string model = dir.file("model");
  copy_fixture(model);
  std::ifstream in(model + "/config.json");
  auto j = nlohmann::json::parse(in);
  j["num_key_value_heads"] = 3;  // 4 heads are not divisible into 3 groups
  std::ofstream(model + "/config.json") << j.dump(2);
  expect_one_line_error(neft({"train", "--model", model, "--out", dir.file("run")}),
                        {"config.json", "num_key_value_heads 3"});
}

TEST(TrainE2E, InvalidJsonlLineIsAOneLineError) {
  TempDir dir;
  const std::string data = dir.file("data.jsonl");
  std::ofstream(data) << "{\"prompt\": [1, 4, 20], \"response\": [21, 3]}\n"
                      << "{\"prompt\": [1, 4, 20], \"response\": oops}\n";
  expect_one_line_error(neft({"train", "--data", "sft:" + data, "--out", dir.file("run")}),
                        {data + ":2"});
}

// A model trained from an HF directory keeps what makes it usable as that directory was:
// its tokenizer's files, generation_config.json and the special token ids in config.json, in
// the final model/ and in every checkpoint (transformers' AutoTokenizer and generate() read
// them; without eos generate never stops).
TEST(TrainE2E, TheSavedModelCarriesTheTokenizerAndGenerationConfig) {
  TempDir dir;
  const std::string base = dir.file("base"), out = dir.file("run");
  fs::create_directories(base);
  const std::string hf = std::string(NEFT_SOURCE_DIR) + "/tests/golden/gqa_untied";
  for (const char* f : {"config.json", "model.safetensors", "generation_config.json"})
    fs::copy_file(hf + "/" + f, base + "/" + f);
  fs::copy_file(std::string(NEFT_SOURCE_DIR) + "/tests/golden/tokenizers/gpt2/tokenizer.json",
                base + "/tokenizer.json");
  std::ofstream(base + "/tokenizer_config.json") << R"({"eos_token": "<|endoftext|>"})";
  std::ofstream(base + "/chat_template.jinja")
      << "{% for m in messages %}{{ m.content }}{% endfor %}";
  const Result r =
      neft({"train", "--model", base, "--out", out, "--steps", "2", "--save-every", "1",
            "--seq-len", "40", "--micro-batch", "2", "--eval-examples", "2", "--warmup", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const std::string& saved : {out + "/model", out + "/checkpoints/step-00000002"}) {
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                          "generation_config.json"})
      EXPECT_EQ(::neft::testing::read_text(saved + "/" + f),
                ::neft::testing::read_text(base + "/" + f))
          << saved << "/" << f;
    const auto config = nlohmann::json::parse(::neft::testing::read_text(saved + "/config.json"));
    EXPECT_EQ(config.value("bos_token_id", -1), 1) << saved;
    EXPECT_EQ(config.value("eos_token_id", -1), 2) << saved;
  }
}

// Two examples packed into one row train exactly as the same two one per row: each attends
// only to itself, so the first step's loss (the mean over the same response tokens) agrees
// to fp32 rounding. Without document masking the second example sees the first and the
// loss moves by a few parts in 1e3 (measured by switching the mask off).
TEST(TrainE2E, PackedExamplesTrainAsIfEachHadItsOwnRow) {
  TempDir dir;
  const std::string data = dir.file("two.jsonl");
  std::ofstream(data) << "{\"prompt\": [5, 17, 33, 2, 71], \"response\": [12, 9, 40, 40, 3]}\n"
                      << "{\"prompt\": [8, 61, 19], \"response\": [77, 23, 6, 54, 1, 30, 2]}\n";
  const std::string hf = std::string(NEFT_SOURCE_DIR) + "/tests/golden/gqa_untied";
  auto first_loss = [&](const std::string& packing, const std::string& micro_batch) {
    const std::string out = dir.file("run-" + packing);
    const Result r = neft({"train", "--model", hf, "--data", "sft:" + data, "--packing", packing,
                           "--micro-batch", micro_batch, "--seq-len", "24", "--steps", "1",
                           "--warmup", "0", "--out", out});
    EXPECT_EQ(r.status, 0) << r.err;
    return losses(out).at(1);
  };
  const double packed = first_loss("on", "1"), rows = first_loss("off", "2");
  EXPECT_NEAR(packed, rows, 1e-5 * rows);
}

// Without mpirun the command is one process: layouts that need more ranks, and pipeline
// parallelism (not available yet), end in one line before anything is written.
TEST(TrainE2E, LayoutsThatOneProcessCannotRunAreOneLineErrors) {
  TempDir dir;
  const std::string out = dir.file("run");
  const Result tp = neft({"train", "--tp", "2", "--out", out});
  expect_one_line_error(tp, {"--tp 2 x --pp 1 needs a multiple of 2 ranks", "mpirun -np N"});
  const Result pp = neft({"train", "--pp", "2", "--out", out});
  expect_one_line_error(pp, {"--tp 1 x --pp 2 needs a multiple of 2 ranks", "mpirun -np N"});
  EXPECT_FALSE(fs::exists(out));
}

// Sequence parallelism splits each micro-batch's tokens over tp: a count that does not divide is
// one line naming the values, before anything runs. At tp 1 it does nothing, as in Megatron-LM
// (there is no group to split over), and says so: the run is the run without it.
TEST(TrainE2E, SequenceParallelismNeedsTokensThatDivideByTpAndDoesNothingAtTp1) {
  TempDir dir;
  const std::string out = dir.file("run");
  expect_one_line_error(neft({"train", "--tp", "2", "--sequence-parallel", "--micro-batch", "3",
                              "--seq-len", "33", "--out", out}),
                        {"--micro-batch", "3 x 33", "--tp 2"});
  EXPECT_FALSE(fs::exists(out));

  const std::vector<std::string> run = {"--steps",       "2",  "--seq-len",       "32",
                                        "--micro-batch", "2",  "--eval-examples", "2",
                                        "--log-every",   "100"};
  const Result plain = neft(with({"train", "--out", dir.file("plain")}, run));
  ASSERT_EQ(plain.status, 0) << plain.err;
  const Result sp = neft(with({"train", "--sequence-parallel", "--out", dir.file("sp")}, run));
  ASSERT_EQ(sp.status, 0) << sp.err;
  EXPECT_THAT(sp.out, HasSubstr("--sequence-parallel does nothing at --tp 1"));
  EXPECT_EQ(losses(dir.file("sp")), losses(dir.file("plain")));
}

}  // namespace
}  // namespace neft::launch
