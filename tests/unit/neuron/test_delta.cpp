// Sparse deltas and neuron-level training checkpoints on one rank (other layouts are tested
// under mpirun in tests/parallel/test_neuron_checkpoint.cpp): a delta applied to a fresh copy
// of the base gives the trained model bit for bit and is a small fraction of the model's file;
// a bad delta is a one-line error naming the file; a neuron-level checkpoint reads back
// exactly, and only into a run that trains the same neurons.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "../model/small_config.h"
#include "../temp_dir.h"
#include "model/hf_checkpoint.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "neuron/delta.h"
#include "neuron/neuron_space.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "tests/unit/error_of.h"
#include "tests/unit/model/random_batches.h"
#include "train/delta_checkpoint.h"
#include "train/distributed_checkpoint.h"
#include "train/sharded_checkpoint.h"
#include "train/train_step.h"

namespace neft::neuron {
namespace {

using model::LlamaConfig;
using model::LlamaModel;
using ::neft::testing::TempDir;

constexpr uint64_t kSeed = 5;

std::vector<data::Batch> random_batches(const LlamaConfig& c, int count, uint32_t seed) {
  return ::neft::testing::random_batches(c, count, seed, 2, 6, 4);
}

// Every kind (and the gate) with a tenth or so of each kind's neurons, unevenly spread.
std::vector<NeuronId> some_neurons(const NeuronSpace& space) {
  std::vector<NeuronId> ids;
  for (NeuronId id : space.owned(0, 0))
    if ((id_index(id) * 7 + id_layer(id)) % 10 == 3) ids.push_back(id);
  return ids;
}

// The base model, and a copy trained on `ids` for a few AdamW steps.
struct Trained {
  LlamaConfig config = testing::small_llama_config(false);
  NeuronSpace space{config, NeuronKinds::parse("all", /*ffn_gate=*/true)};
  LlamaModel model{config};
  std::unique_ptr<optim::AdamW> optimizer;

  explicit Trained(const std::vector<NeuronId>& ids) {
    model.init_random(kSeed, 0.1f);
    train_only(model, space, ids);
    optimizer = std::make_unique<optim::AdamW>(model.parameters(), optim::AdamWConfig{});
    for (int s = 0; s < 3; ++s)
      train::train_step(model, *optimizer, random_batches(config, 2, 10 + uint32_t(s)), 1e-2f,
                        1.0f);
  }
};

std::string error_of(const std::function<void()>& f) {
  const std::string message = ::neft::testing::error_of(f);
  if (message.empty()) ADD_FAILURE() << "no error";
  return message;
}

// One line that starts with the file's name and says `what`.
void expect_error(const std::string& message, const std::string& path, const std::string& what) {
  EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
  EXPECT_NE(message.find(what), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(NeuronDelta, AppliedToTheBaseItGivesTheTrainedModelBitwise) {
  TempDir dir;
  const LlamaConfig c = testing::small_llama_config(false);
  const NeuronSpace space(c, NeuronKinds::parse("all", true));
  Trained t(some_neurons(space));
  const std::string path = dir.file("delta.safetensors");
  train::save_delta(t.model, path, /*write=*/true);

  LlamaModel base(c);
  base.init_random(kSeed, 0.1f);
  size_t changed = 0;
  for (Parameter* p : base.parameters())
    changed += p->value.to_floats() != t.model.parameter(p->name).value.to_floats();
  EXPECT_EQ(changed, 2u * 7u);  // every neuron matrix of both layers, nothing else

  apply_delta(base, path);
  for (Parameter* p : base.parameters())
    EXPECT_EQ(p->value.to_floats(), t.model.parameter(p->name).value.to_floats()) << p->name;

  const model::SafetensorsFile file(path);
  EXPECT_EQ(file.metadata().at("format"), "neft-delta");
  EXPECT_EQ(file.metadata().at("kinds"), "ffn,qo,kv");
  EXPECT_EQ(file.metadata().at("ffn_gate"), "true");
  EXPECT_EQ(file.metadata().at("intermediate"), std::to_string(c.intermediate));
  EXPECT_EQ(file.names().size(), 2u * 2u * 7u);
  // Column neurons (down_proj) are stored as rows, with whole-tensor indices ascending.
  const std::string down = "model.layers.1.mlp.down_proj.weight";
  const std::vector<int32_t> index = file.read(down + ".neurons", DType::I32).to_ints();
  ASSERT_FALSE(index.empty());
  EXPECT_TRUE(std::is_sorted(index.begin(), index.end()));
  EXPECT_EQ(file.info(down + ".rows").shape, (Shape{int64_t(index.size()), c.hidden}));
  const std::vector<float> rows = file.read(down + ".rows", DType::F32).to_floats();
  const std::vector<float> weight = t.model.parameter(down).value.to_floats();
  for (size_t k = 0; k < index.size(); ++k)
    for (int64_t i = 0; i < c.hidden; ++i)
      ASSERT_EQ(rows[k * size_t(c.hidden) + size_t(i)],
                weight[size_t(i * c.intermediate + index[k])]);
}

TEST(NeuronDelta, IsASmallFractionOfTheModelFile) {
  TempDir dir;
  const LlamaConfig c = testing::small_llama_config(false);
  const NeuronSpace space(c, NeuronKinds::parse("ffn"));
  std::vector<NeuronId> ids;
  for (NeuronId id : space.owned(0, 0))
    if (id_index(id) % 12 == 0) ids.push_back(id);  // 1/12 of the ffn neurons
  Trained t(ids);
  const std::string delta = dir.file("delta.safetensors"), whole = dir.file("model");
  train::save_delta(t.model, delta, true);
  train::save_model(t.model, whole, true);
  // The tensors are the selected neurons' gate, up and down vectors (the gate joins in
  // Trained's space) and their indices, nothing more; with its header the file is still a
  // small fraction of the model's (of 17k parameters).
  const model::SafetensorsFile file(delta);
  size_t tensor_bytes = 0;
  for (const std::string& name : file.names()) tensor_bytes += file.info(name).nbytes;
  EXPECT_EQ(tensor_bytes, ids.size() * 3 * (size_t(c.hidden) + 1) * 4);
  const double ratio = double(std::filesystem::file_size(delta)) /
                       double(std::filesystem::file_size(whole + "/model.safetensors"));
  EXPECT_LT(ratio, 0.1) << ratio;
}

TEST(NeuronDelta, AModelWithNoTrainedNeuronsHasAnEmptyDelta) {
  TempDir dir;
  const LlamaConfig c = testing::small_llama_config(false);
  Trained t({});
  const std::string path = dir.file("delta.safetensors");
  train::save_delta(t.model, path, true);
  EXPECT_TRUE(model::SafetensorsFile(path).names().empty());
  LlamaModel base(c);
  base.init_random(kSeed, 0.1f);
  apply_delta(base, path);
  for (Parameter* p : base.parameters())
    EXPECT_EQ(p->value.to_floats(), t.model.parameter(p->name).value.to_floats()) << p->name;
}

// A delta file written from `tensors` with the metadata of `config` (changed by `edit`).
std::string write_delta(const TempDir& dir, const std::string& name,
                        const model::NamedTensors& tensors, const LlamaConfig& config,
                        const std::function<void(model::Metadata&)>& edit = {}) {
  model::Metadata meta = delta_metadata(config, "ffn", false);
  if (edit) edit(meta);
  const std::string path = dir.file(name);
  model::save_safetensors(path, tensors, meta);
  return path;
}

TEST(NeuronDelta, ABadDeltaIsAOneLineErrorNamingTheFile) {
  TempDir dir;
  const LlamaConfig c = testing::small_llama_config(false);
  LlamaModel m(c);
  m.init_random(kSeed, 0.1f);
  const std::string up = "model.layers.0.mlp.up_proj.weight";
  const Tensor neurons = Tensor::from_ints({2, 5}, {2});
  const Tensor rows = Tensor::zeros({2, c.hidden}, DType::F32);

  // Not a delta: a model file.
  train::save_model(m, dir.file("model"), true);
  const std::string model_file = dir.file("model") + "/model.safetensors";
  expect_error(error_of([&] { apply_delta(m, model_file); }), model_file, "not a neuron delta");
  // Not safetensors at all.
  const std::string text = dir.file("text.safetensors");
  testing::write_text(text, "hello");
  EXPECT_NE(error_of([&] { apply_delta(m, text); }).find(text), std::string::npos);

  // Another model's shape.
  const std::string other = write_delta(dir, "other.safetensors", {}, c,
                                        [](model::Metadata& meta) { meta["hidden"] = "64"; });
  expect_error(error_of([&] { apply_delta(m, other); }), other, "hidden 64");

  // A parameter that is not a neuron matrix, or of a layer the model lacks.
  for (const std::string& name :
       {std::string("model.norm.weight"), std::string("model.layers.2.mlp.up_proj.weight"),
        std::string("model.layers.0.mlp.up_proj.bias")}) {
    const std::string path = write_delta(dir, "unknown.safetensors",
                                         {{name + ".neurons", neurons}, {name + ".rows", rows}}, c);
    expect_error(error_of([&] { apply_delta(m, path); }), path, "unknown parameter '" + name + "'");
  }

  // An index past the intermediate size, or out of order.
  const std::string far =
      write_delta(dir, "far.safetensors",
                  {{up + ".neurons", Tensor::from_ints({2, int32_t(c.intermediate)}, {2})},
                   {up + ".rows", rows}},
                  c);
  expect_error(error_of([&] { apply_delta(m, far); }), far, "out of range");
  const std::string unordered =
      write_delta(dir, "unordered.safetensors",
                  {{up + ".neurons", Tensor::from_ints({5, 2}, {2})}, {up + ".rows", rows}}, c);
  expect_error(error_of([&] { apply_delta(m, unordered); }), unordered, "not ascending");

  // Rows of the wrong width, or one row too few; rows without their indices.
  const std::string wide = write_delta(
      dir, "wide.safetensors",
      {{up + ".neurons", neurons}, {up + ".rows", Tensor::zeros({2, c.hidden + 1}, DType::F32)}},
      c);
  expect_error(error_of([&] { apply_delta(m, wide); }), wide, "expected [2, 32]");
  const std::string short_rows = write_delta(
      dir, "short.safetensors",
      {{up + ".neurons", neurons}, {up + ".rows", Tensor::zeros({1, c.hidden}, DType::F32)}}, c);
  expect_error(error_of([&] { apply_delta(m, short_rows); }), short_rows, "expected [2, 32]");
  const std::string lonely = write_delta(dir, "lonely.safetensors", {{up + ".rows", rows}}, c);
  expect_error(error_of([&] { apply_delta(m, lonely); }), lonely, "without '" + up + ".neurons'");

  // A good matrix before a bad one.
  const std::string down = "model.layers.1.mlp.down_proj.weight";
  const std::string half_bad = write_delta(
      dir, "half-bad.safetensors",
      {{up + ".neurons", neurons},
       {up + ".rows",
        Tensor::from_floats(std::vector<float>(size_t(2 * c.hidden), 1.0f), {2, c.hidden})},
       {down + ".neurons", neurons},
       {down + ".rows", Tensor::zeros({2, c.hidden - 1}, DType::F32)}},
      c);
  expect_error(error_of([&] { apply_delta(m, half_bad); }), half_bad, "expected [2, 32]");

  // Nothing was written by any of them.
  LlamaModel base(c);
  base.init_random(kSeed, 0.1f);
  for (Parameter* p : base.parameters())
    EXPECT_EQ(p->value.to_floats(), m.parameter(p->name).value.to_floats()) << p->name;
}

TEST(NeuronDelta, NeuronAxisByName) {
  EXPECT_EQ(neuron_axis_of("model.layers.3.self_attn.q_proj.weight"), 0);
  EXPECT_EQ(neuron_axis_of("model.layers.3.self_attn.o_proj.weight"), 1);
  EXPECT_EQ(neuron_axis_of("model.layers.12.mlp.down_proj.weight"), 1);
  EXPECT_EQ(neuron_axis_of("model.layers.0.mlp.gate_proj.weight"), 0);
  EXPECT_EQ(neuron_axis_of("model.layers.x.mlp.up_proj.weight"), -1);
  EXPECT_EQ(neuron_axis_of("model.layers.0.mlp.up_proj.weight.extra"), -1);
  EXPECT_EQ(neuron_axis_of("model.embed_tokens.weight"), -1);
}

// A neuron-level checkpoint (train/sharded_checkpoint.h) holds what trains: each trained
// matrix's selected rows and their optimizer state, nothing of a frozen parameter; it loads
// back exactly into a run that trains the same neurons.
TEST(NeuronCheckpoint, TrainedRowsAndStateReadBackExactly) {
  TempDir dir;
  const LlamaConfig c = testing::small_llama_config(false);
  const NeuronSpace space(c, NeuronKinds::parse("all", true));
  const std::vector<NeuronId> ids = some_neurons(space);
  Trained t(ids);
  train::write_sharded_state(dir.path().string(), t.model, *t.optimizer, true, nullptr);
  const train::ShardedCheckpoint saved(dir.path().string());
  const std::string up = "model.layers.0.mlp.up_proj.weight";
  std::vector<std::string> want_names;
  for (Parameter* p : t.model.parameters())
    if (p->neuron_level() && p->neuron_index.numel() > 0)
      for (const char* kind : {".exp_avg", ".exp_avg_sq", ".master", ".rows"})
        want_names.push_back(p->name + kind);
  std::sort(want_names.begin(), want_names.end());
  EXPECT_EQ(saved.names(), want_names);  // nothing of the frozen embedding, norms or head
  ASSERT_TRUE(saved.has(up + ".rows"));

  LlamaModel m(c);
  m.init_random(kSeed, 0.1f);
  train_only(m, space, ids);
  optim::AdamW optimizer(m.parameters(), {});
  train::restore_trainable_state(saved, m, optimizer, 3);
  EXPECT_EQ(optimizer.steps_taken(), 3);
  const auto want = t.optimizer->state(), got = optimizer.state();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second.to_floats(), want[i].second.to_floats()) << want[i].first;
  }
  for (Parameter* p : t.model.parameters())
    EXPECT_EQ(m.parameter(p->name).value.to_floats(), p->value.to_floats()) << p->name;

  // Loaded into a model that trains nothing (evaluation, --init), over the same base: the
  // trained model, bit for bit.
  LlamaModel plain(c);
  plain.init_random(kSeed, 0.1f);
  saved.load_weights(plain);
  for (Parameter* p : t.model.parameters())
    EXPECT_EQ(plain.parameter(p->name).value.to_floats(), p->value.to_floats()) << p->name;
}

// Matrices with no selected neuron have nothing to save, and load as empty state.
TEST(NeuronCheckpoint, AnEmptySelectionSavesAndLoads) {
  TempDir dir;
  const LlamaConfig c = testing::small_llama_config(false);
  Trained t({});
  train::write_sharded_state(dir.path().string(), t.model, *t.optimizer, true, nullptr);
  const train::ShardedCheckpoint saved(dir.path().string());
  EXPECT_TRUE(saved.names().empty());
  LlamaModel m(c);
  train_only(m, t.space, {});
  optim::AdamW optimizer(m.parameters(), {});
  train::restore_trainable_state(saved, m, optimizer, 3);
  EXPECT_EQ(optimizer.steps_taken(), 3);
}

TEST(NeuronCheckpoint, StateOfOtherNeuronsOrOtherParametersIsAnErrorNamingTheCheckpoint) {
  TempDir dir;
  const LlamaConfig c = testing::small_llama_config(false);
  const std::vector<NeuronId> ids = {make_id(0, NeuronKind::Ffn, 3),
                                     make_id(1, NeuronKind::Ffn, 7)};
  Trained t(ids);
  const NeuronSpace& space = t.space;
  const std::string path = dir.file("neurons");
  std::filesystem::create_directories(path);
  train::write_sharded_state(path, t.model, *t.optimizer, true, nullptr);
  const train::ShardedCheckpoint saved(path);
  const std::string index = path + "/" + train::kCheckpointIndexFile;

  LlamaModel m(c);
  m.init_random(kSeed, 0.1f);
  train_only(m, space, {make_id(0, NeuronKind::Ffn, 3), make_id(1, NeuronKind::Ffn, 8)});
  optim::AdamW other(m.parameters(), {});
  expect_error(error_of([&] { train::restore_trainable_state(saved, m, other, 3); }), index,
               "'model.layers.1.mlp.gate_proj.weight': the saved neurons are not the ones");

  // A run that trains everything: the checkpoint lacks the embedding.
  train_all(m);
  optim::AdamW dense(m.parameters(), {});
  expect_error(error_of([&] { train::restore_trainable_state(saved, m, dense, 3); }), path,
               "'model.embed_tokens.weight' trains in this run but is not in the checkpoint");
  // And a whole-model checkpoint where a run trains neurons: it holds weights they freeze.
  const std::string whole = dir.file("whole");
  std::filesystem::create_directories(whole);
  train::write_sharded_state(whole, m, dense, true, nullptr);
  train_only(m, space, ids);
  optim::AdamW neurons(m.parameters(), {});
  expect_error(error_of([&] {
                 train::restore_trainable_state(train::ShardedCheckpoint(whole), m, neurons, 3);
               }),
               whole, "trains 'model.embed_tokens.weight', which this run freezes");
}

}  // namespace
}  // namespace neft::neuron
