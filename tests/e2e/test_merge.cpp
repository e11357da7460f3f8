// `neft merge` and `neft eval --delta` end to end, through the command line: the sparse delta
// of a neuron-level run merged into its base (an HF directory, or a preset initialised from
// its seed) gives an HF directory holding exactly the trained weights, which evaluates as the
// base with the delta applied does; a bad delta ends in one line naming the file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "launch/cli.h"
#include "model/safetensors.h"
#include "neuron/neuron_set.h"
#include "neuron/neuron_space.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "tests/e2e/cli_run.h"
#include "tests/unit/temp_dir.h"
#include "train/delta_checkpoint.h"
#include "train/distributed_checkpoint.h"
#include "train/model_setup.h"
#include "train/train_step.h"

namespace neft::launch {
namespace {

using ::neft::testing::TempDir;
using namespace ::neft::launch::testing;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::map<std::string, std::vector<float>> weights(const std::string& model_dir) {
  const model::Checkpoint ckpt(model_dir);
  std::map<std::string, std::vector<float>> all;
  for (const std::string& name : ckpt.names()) all[name] = ckpt.read(name, DType::F32).to_floats();
  return all;
}

std::map<std::string, std::vector<float>> weights(model::LlamaModel& m) {
  std::map<std::string, std::vector<float>> all;
  for (Parameter* p : m.parameters()) all[p->name] = p->value.to_floats();
  return all;
}

// The tiny preset from `seed` (as `neft train --model tiny --seed` starts), trained for two
// steps on a tenth of its ffn and qo neurons; its delta written to `delta`.
std::unique_ptr<model::LlamaModel> train_neurons(uint64_t seed, const std::string& delta) {
  auto m = train::build_model({"tiny", ""}, {}, seed);
  const neuron::NeuronSpace space(m->config(), neuron::NeuronKinds::parse("ffn,qo"));
  std::vector<neuron::NeuronId> ids;
  for (neuron::NeuronId id : space.owned(0, 0))
    if (neuron::id_index(id) % 10 == neuron::id_layer(id)) ids.push_back(id);
  neuron::train_only(*m, space, ids);
  optim::AdamW optimizer(m->parameters(), {});
  for (int step = 0; step < 2; ++step) {
    data::Batch b = data::Batch::padded(2, 16);
    for (size_t j = 0; j < b.tokens.size(); ++j) {
      b.tokens[j] = int32_t((j * 7 + size_t(step)) % 64);
      b.targets[j] = int32_t((j * 5 + 3) % 64);
      b.positions[j] = int32_t(j % 16);
    }
    train::train_step(*m, optimizer, {b}, 1e-2f, 1.0f);
  }
  train::save_delta(*m, delta, true);
  return m;
}

TEST(MergeE2E, TheMergedModelHoldsTheTrainedWeights) {
  TempDir dir;
  // The base as an HF directory.
  const std::string base = dir.file("base"), delta = dir.file("delta.safetensors");
  train::save_model(*train::build_model({"tiny", ""}, {}, 3), base, true);
  // The base's tokenizer and generation config go with the merged model.
  std::ofstream(base + "/tokenizer_config.json") << R"({"eos_token": "</s>"})";
  std::ofstream(base + "/generation_config.json") << R"({"eos_token_id": 3})";
  const auto trained = train_neurons(3, delta);
  const std::string out = dir.file("merged");
  const Result r = neft({"merge", "--base", base, "--delta", delta, "--out", out});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(out + "/config.json"));
  for (const char* f : {"tokenizer_config.json", "generation_config.json"})
    EXPECT_EQ(::neft::testing::read_text(out + "/" + f), ::neft::testing::read_text(base + "/" + f))
        << f;
  EXPECT_EQ(weights(out), weights(*trained));
  EXPECT_NE(weights(out), weights(base));

  // The base as a preset initialised from its seed.
  const std::string from_preset = dir.file("from-preset");
  const Result p =
      neft({"merge", "--base", "tiny", "--seed", "3", "--delta", delta, "--out", from_preset});
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(weights(from_preset), weights(*trained));

  // `neft eval --delta` evaluates the base with the delta applied: the merged model's scores.
  const std::vector<std::string> eval = {"eval", "--tasks",   "copy,add", "--examples",
                                         "2",    "--seq-len", "40",       "--json"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = eval;
    args.insert(args.end(), more.begin(), more.end());
    return neft(args);
  };
  const Result merged = with({"--model", out});
  const Result applied = with({"--model", base, "--delta", delta});
  const Result plain = with({"--model", base});
  ASSERT_EQ(merged.status, 0) << merged.err;
  ASSERT_EQ(applied.status, 0) << applied.err;
  auto tasks = [](const Result& e) { return nlohmann::json::parse(e.out)["tasks"]; };
  EXPECT_EQ(tasks(applied), tasks(merged));
  EXPECT_NE(tasks(plain), tasks(merged));
}

// The flow a user runs: `neft train --neurons` writes the delta beside its model, and the
// delta merged into the base it started from is that model.
TEST(MergeE2E, ADeltaFromNeftTrainMergesIntoItsModel) {
  TempDir dir;
  const model::LlamaConfig c = model::preset("tiny");
  const neuron::NeuronSpace space(c, neuron::NeuronKinds::parse("ffn,kv"));
  std::vector<neuron::NeuronId> ids;
  for (neuron::NeuronId id : space.owned(0, 0))
    if (neuron::id_index(id) % 16 == 5) ids.push_back(id);
  const std::string set = dir.file("set.safetensors");
  neuron::save_neuron_set(
      set, neuron::make_neuron_set(space, ids, std::vector<float>(ids.size(), 1), "random", "test",
                                   "global"));
  const std::string run = dir.file("run");
  const Result t = neft({"train", "--neurons", set, "--out", run, "--steps", "3", "--seed", "9",
                         "--seq-len", "24", "--micro-batch", "2", "--warmup", "0", "--tasks",
                         "copy", "--eval-examples", "2"});
  ASSERT_EQ(t.status, 0) << t.err;
  const Result m = neft({"merge", "--base", "tiny", "--seed", "9", "--delta",
                         run + "/delta.safetensors", "--out", dir.file("merged")});
  ASSERT_EQ(m.status, 0) << m.err;
  EXPECT_EQ(weights(dir.file("merged")), weights(run + "/model"));
}

TEST(MergeE2E, ABadDeltaIsAOneLineError) {
  TempDir dir;
  const std::string base = dir.file("base");
  train::save_model(*train::build_model({"tiny", ""}, {}, 3), base, true);
  const std::string out = dir.file("merged");
  // A model file is not a delta.
  const std::string not_delta = base + "/model.safetensors";
  expect_one_line_error(neft({"merge", "--base", base, "--delta", not_delta, "--out", out}),
                        {"merge: error: ", not_delta, "not a neuron delta"});
  // A delta of a model of another shape.
  const std::string small_path = dir.file("small.safetensors");
  {
    model::LlamaConfig c = model::preset("tiny");
    c.intermediate = 256;
    model::LlamaModel m(c);
    m.init_random(1);
    neuron::train_only(m, neuron::NeuronSpace(c, neuron::NeuronKinds::parse("ffn")),
                       {neuron::make_id(0, neuron::NeuronKind::Ffn, 1)});
    train::save_delta(m, small_path, true);
  }
  expect_one_line_error(neft({"merge", "--base", base, "--delta", small_path, "--out", out}),
                        {small_path, "intermediate 256", "this model has 384"});
  expect_one_line_error(neft({"eval", "--model", base, "--delta", small_path}),
                        {"eval: error: ", small_path, "intermediate 256"});
  // A missing one.
  expect_one_line_error(
      neft({"merge", "--base", base, "--delta", dir.file("nowhere"), "--out", out}),
      {dir.file("nowhere")});
  EXPECT_FALSE(fs::exists(out));
}

TEST(MergeE2E, OptionsAndHelp) {
  const Result help = neft({"merge", "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_THAT(help.out, HasSubstr("--delta FILE"));
  EXPECT_THAT(help.out, HasSubstr("--base DIR|NAME"));
  EXPECT_THAT(neft({"--help"}).out, HasSubstr("merge"));
  expect_one_line_error(neft({"merge", "--base", "tiny", "--out", "x"}),
                        {"nothing to merge: give --delta FILE or --adapter DIR"});
  expect_one_line_error(neft({"merge", "--delta", "d", "--out", "x"}), {"missing --base"});
}

}  // namespace
}  // namespace neft::launch
