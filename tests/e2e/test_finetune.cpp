// The neuron-level commands end to end, as a user runs them: `neft finetune` scores, selects,
// trains only the selected neurons and writes a sparse delta that `neft merge` folds back
// into the base to give the run's model exactly; `neft score` + `neft select` alone make the
// neuron file that finetune made; and bad neuron input (another model's file, ids out of
// range, an empty selection, a budget above 100%) ends in one line naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "model/safetensors.h"
#include "neuron/neuron_set.h"
#include "tests/e2e/cli_run.h"
#include "tests/unit/temp_dir.h"

namespace neft::launch {
namespace {

using ::neft::testing::TempDir;
using namespace ::neft::launch::testing;
namespace fs = std::filesystem;

const std::vector<std::string> kData = {"--tasks",       "copy,shift", "--seq-len", "32",
                                        "--micro-batch", "4",          "--seed",    "7"};

std::string make_base(const TempDir& dir) {
  return ::neft::launch::testing::make_base(dir.file("base"), kData);
}

std::map<std::string, std::vector<float>> weights(const std::string& model_dir) {
  const model::Checkpoint ckpt(model_dir);
  std::map<std::string, std::vector<float>> all;
  for (const std::string& name : ckpt.names()) all[name] = ckpt.read(name, DType::F32).to_floats();
  return all;
}

TEST(FinetuneE2E, FinetuneThenMergeGivesTheRunsModelAndScoreSelectAloneGiveItsNeurons) {
  TempDir dir;
  const std::string base = make_base(dir);
  const std::string run = dir.file("run");
  const std::vector<std::string> method = {"--scorer", "attribution", "--score-batches", "2",
                                           "--budget", "5%params",    "--kinds",         "ffn,qo"};
  const Result r = neft(with(with({"finetune", "--init", base, "--out", run, "--steps", "6",
                                   "--eval-examples", "2", "--log-every", "100"},
                                  kData),
                             method));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* f : {"scores.safetensors", "neurons.safetensors", "delta.safetensors",
                        "model/model.safetensors", "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(run + "/" + f)) << f;

  // The delta is a small part of the model, and base + delta is the run's model, bit for bit.
  EXPECT_LT(fs::file_size(run + "/delta.safetensors"),
            fs::file_size(run + "/model/model.safetensors") / 10);
  const Result m = neft({"merge", "--base", base, "--delta", run + "/delta.safetensors", "--out",
                         dir.file("merged")});
  ASSERT_EQ(m.status, 0) << m.err;
  EXPECT_EQ(weights(dir.file("merged")), weights(run + "/model"));

  // The same two steps alone make the same neuron file.
  ASSERT_EQ(
      neft(with(with({"score", "--init", base, "--out", dir.file("scores.safetensors")}, kData),
                {"--scorer", "attribution", "--score-batches", "2", "--kinds", "ffn,qo"}))
          .status,
      0);
  ASSERT_EQ(neft({"select", "--scores", dir.file("scores.safetensors"), "--model", base, "--budget",
                  "5%params", "--out", dir.file("neurons.safetensors")})
                .status,
            0);
  const neuron::NeuronSet alone = neuron::load_neuron_set(dir.file("neurons.safetensors"));
  const neuron::NeuronSet inside = neuron::load_neuron_set(run + "/neurons.safetensors");
  EXPECT_EQ(alone.ids, inside.ids);
  EXPECT_EQ(alone.scores, inside.scores);
  EXPECT_EQ(alone.scorer, "attribution");
  EXPECT_FALSE(alone.ids.empty());
}

// The cosine scorer's in-process probe moves the weights (every neuron scores above 0) with
// either optimizer, and the two optimizers rank differently.
TEST(FinetuneE2E, TheCosineProbeRunsWithEitherOptimizer) {
  TempDir dir;
  std::map<std::string, std::vector<float>> scores;
  for (const char* optimizer : {"sgd", "adamw"}) {
    const std::string out = dir.file(std::string(optimizer) + ".safetensors");
    const Result r = neft(with({"score", "--scorer", "cosine", "--probe-steps", "2",
                                "--probe-optimizer", optimizer, "--out", out},
                               kData));
    ASSERT_EQ(r.status, 0) << r.err;
    scores[optimizer] = neuron::load_neuron_set(out).scores;
    for (float v : scores[optimizer]) ASSERT_GT(v, 0.0f) << optimizer;
  }
  EXPECT_NE(scores["sgd"], scores["adamw"]);
}

TEST(FinetuneE2E, BadNeuronInputIsAOneLineError) {
  TempDir dir;
  // Scores of another model shape.
  const std::string other = dir.file("other.safetensors");
  ASSERT_EQ(neft({"score", "--model", "tiny-tied", "--scorer", "magnitude", "--kinds", "qo",
                  "--out", other})
                .status,
            0);
  ASSERT_EQ(neft({"select", "--scores", other, "--model", "tiny-tied", "--budget", "10%", "--out",
                  dir.file("other-neurons.safetensors")})
                .status,
            0);
  // tiny-tied has tiny's shape: a file for small-20m is another model.
  const std::string big = dir.file("big.safetensors");
  ASSERT_EQ(neft({"score", "--model", "small-20m", "--scorer", "random", "--out", big}).status, 0);
  ASSERT_EQ(neft({"select", "--scores", big, "--model", "small-20m", "--budget", "1%", "--out",
                  dir.file("big-neurons.safetensors")})
                .status,
            0);
  expect_one_line_error(neft({"train", "--model", "tiny", "--neurons",
                              dir.file("big-neurons.safetensors"), "--out", dir.file("run")}),
                        {"big-neurons.safetensors", "num_hidden_layers 6"});

  // An id past the model's layers.
  neuron::NeuronSet bad = neuron::load_neuron_set(dir.file("other-neurons.safetensors"));
  bad.ids.back() = neuron::make_id(9, neuron::NeuronKind::QO, 0);
  neuron::save_neuron_set(dir.file("bad.safetensors"), bad);
  expect_one_line_error(neft({"train", "--model", "tiny", "--neurons", dir.file("bad.safetensors"),
                              "--out", dir.file("run")}),
                        {"bad.safetensors", "layer 9"});

  // Budgets: above 100%, and one that selects nothing.
  expect_one_line_error(neft({"select", "--scores", other, "--model", "tiny", "--budget", "120%",
                              "--out", dir.file("x.safetensors")}),
                        {"120%"});
  expect_one_line_error(neft({"select", "--scores", other, "--model", "tiny", "--budget", "0",
                              "--scope", "balanced", "--out", dir.file("x.safetensors")}),
                        {"no neuron"});
  // An empty neuron file.
  neuron::NeuronSet empty = bad;
  empty.ids.clear();
  empty.scores.clear();
  neuron::save_neuron_set(dir.file("empty.safetensors"), empty);
  expect_one_line_error(neft({"train", "--model", "tiny", "--neurons",
                              dir.file("empty.safetensors"), "--out", dir.file("run")}),
                        {"empty.safetensors", "no neuron"});
}

}  // namespace
}  // namespace neft::launch
