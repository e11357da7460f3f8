// Neuron-set files: a set survives a save and a load whole; a file that is not a neuron set, or
// a set that does not fit the model it is used with, is a one-line error naming the file; a
// rank's part of a scores file is exactly the scores of the neurons it owns.
#include <gtest/gtest.h>

#include <string>

#include "../model/small_config.h"
#include "../temp_dir.h"
#include "model/safetensors.h"
#include "neuron/neuron_set.h"
#include "runtime/error.h"
#include "tests/unit/error_of.h"

namespace neft::neuron {
namespace {

using ::neft::testing::error_of;

// hidden 32, intermediate 48, 2 layers, 4 heads, 2 kv heads, head_dim 8.
model::LlamaConfig config() { return testing::small_llama_config(false); }

NeuronSpace space(const std::string& kinds = "ffn,kv", bool gate = true, int tp = 1) {
  return NeuronSpace(config(), NeuronKinds::parse(kinds, gate), tp);
}

NeuronSet some_set() {
  const NeuronSpace s = space();
  return make_neuron_set(s,
                         {make_id(0, NeuronKind::Ffn, 3), make_id(0, NeuronKind::KV, 15),
                          make_id(1, NeuronKind::Ffn, 47)},
                         {0.5f, -2.0f, 7.25f}, "cosine", "lora:8", "global");
}

// `set` saved and loaded back.
NeuronSet round_trip(const NeuronSet& set, const testing::TempDir& dir) {
  const std::string path = dir.file("set.safetensors");
  save_neuron_set(path, set);
  return load_neuron_set(path);
}

TEST(NeuronSet, MakeRecordsTheSpaceAndTheParameters) {
  const NeuronSet set = some_set();
  EXPECT_TRUE(set.kinds.ffn && set.kinds.kv && !set.kinds.qo && set.kinds.ffn_gate);
  EXPECT_EQ(set.layers, 2);
  EXPECT_EQ(set.hidden, 32);
  EXPECT_EQ(set.intermediate, 48);
  EXPECT_EQ(set.heads, 4);
  EXPECT_EQ(set.kv_heads, 2);
  EXPECT_EQ(set.head_dim, 8);
  EXPECT_EQ(set.params, 96 + 64 + 96);  // two ffn neurons with the gate, one kv neuron
}

TEST(NeuronSet, SaveAndLoadRoundTrip) {
  testing::TempDir dir;
  const NeuronSet set = some_set();
  const NeuronSet back = round_trip(set, dir);
  EXPECT_EQ(back.ids, set.ids);
  EXPECT_EQ(back.scores, set.scores);
  EXPECT_EQ(back.scorer, "cosine");
  EXPECT_EQ(back.budget, "lora:8");
  EXPECT_EQ(back.scope, "global");
  EXPECT_EQ(back.kinds.str(), "ffn,kv");
  EXPECT_TRUE(back.kinds.ffn_gate);
  EXPECT_EQ(back.layers, set.layers);
  EXPECT_EQ(back.hidden, set.hidden);
  EXPECT_EQ(back.intermediate, set.intermediate);
  EXPECT_EQ(back.heads, set.heads);
  EXPECT_EQ(back.kv_heads, set.kv_heads);
  EXPECT_EQ(back.head_dim, set.head_dim);
  EXPECT_EQ(back.params, set.params);
  EXPECT_EQ(dir.listing(), std::set<std::string>{"set.safetensors"});  // no temporary left
  // Any safetensors reader sees the ids and scores.
  const model::SafetensorsFile f(dir.file("set.safetensors"));
  EXPECT_EQ(f.info("ids").dtype, DType::I64);
  EXPECT_EQ(f.info("scores").dtype, DType::F32);
  EXPECT_EQ(f.metadata().at("format"), "neft-neurons");
  // A set with no neuron saves and loads too (space_of is what rejects it).
  NeuronSet empty = make_neuron_set(space(), {}, {}, "", "all", "");
  EXPECT_TRUE(round_trip(empty, dir).ids.empty());
}

TEST(NeuronSet, SpaceOfAcceptsTheSetAtAnyLayout) {
  const NeuronSet set = some_set();
  const NeuronSpace s = space_of(set, config(), 2, 2, "set.safetensors");
  EXPECT_EQ(s.tp(), 2);
  EXPECT_EQ(s.pp(), 2);
  EXPECT_EQ(s.kinds().str(), "ffn,kv");
  EXPECT_TRUE(s.kinds().ffn_gate);
}

TEST(NeuronSet, FilesThatAreNotNeuronSetsAreOneLineErrorsNamingTheFile) {
  testing::TempDir dir;
  const std::string path = dir.file("x.safetensors");
  Tensor ids = Tensor::zeros({2}, DType::I64), scores = Tensor::zeros({2}, DType::F32);
  auto metadata = [&] {
    model::Metadata m{{"format", "neft-neurons"},
                      {"scorer", "s"},
                      {"budget", "all"},
                      {"scope", ""},
                      {"kinds", "ffn"},
                      {"ffn_gate", "false"},
                      {"params", "128"},
                      {"num_hidden_layers", "2"},
                      {"hidden_size", "32"},
                      {"intermediate_size", "48"},
                      {"num_attention_heads", "4"},
                      {"num_key_value_heads", "2"},
                      {"head_dim", "8"}};
    return m;
  };
  model::save_safetensors(path, {{"ids", ids}, {"scores", scores}}, metadata());
  EXPECT_EQ(load_neuron_set(path).ids.size(), 2u);

  model::save_safetensors(path, {{"ids", ids}, {"scores", scores}});
  EXPECT_EQ(error_of([&] { load_neuron_set(path); }),
            path + ": not a neuron file (format 'pt', not 'neft-neurons')");
  model::Metadata m = metadata();
  m.erase("intermediate_size");
  model::save_safetensors(path, {{"ids", ids}, {"scores", scores}}, m);
  EXPECT_EQ(error_of([&] { load_neuron_set(path); }),
            path + ": the metadata has no 'intermediate_size'");
  m = metadata();
  m["hidden_size"] = "32x";
  model::save_safetensors(path, {{"ids", ids}, {"scores", scores}}, m);
  EXPECT_EQ(error_of([&] { load_neuron_set(path); }),
            path + ": metadata 'hidden_size' is '32x', not a non-negative whole number");
  m = metadata();
  m["kinds"] = "ffn,mlp";
  model::save_safetensors(path, {{"ids", ids}, {"scores", scores}}, m);
  EXPECT_NE(error_of([&] { load_neuron_set(path); }).find(path + ": metadata 'kinds': "),
            std::string::npos);
  m = metadata();
  m["ffn_gate"] = "yes";
  model::save_safetensors(path, {{"ids", ids}, {"scores", scores}}, m);
  EXPECT_EQ(error_of([&] { load_neuron_set(path); }),
            path + ": metadata 'ffn_gate' is 'yes', not true or false");

  model::save_safetensors(path, {{"scores", scores}}, metadata());
  EXPECT_EQ(error_of([&] { load_neuron_set(path); }), path + ": no 'ids' tensor");
  model::save_safetensors(path, {{"ids", scores}, {"scores", scores}}, metadata());
  EXPECT_EQ(
      error_of([&] { load_neuron_set(path); }),
      path + ": tensor 'ids' is " + dtype_name(DType::F32) + ", not " + dtype_name(DType::I64));
  model::save_safetensors(path, {{"ids", Tensor::zeros({1, 2}, DType::I64)}, {"scores", scores}},
                          metadata());
  EXPECT_EQ(error_of([&] { load_neuron_set(path); }),
            path + ": tensor 'ids' has shape [1, 2], not one dimension");
  model::save_safetensors(path, {{"ids", ids}, {"scores", Tensor::zeros({3}, DType::F32)}},
                          metadata());
  EXPECT_EQ(error_of([&] { load_neuron_set(path); }), path + ": 2 ids but 3 scores");

  testing::write_text(path, "not a safetensors file at all");
  EXPECT_NE(error_of([&] { load_neuron_set(path); }).find(path + ": "), std::string::npos);
  EXPECT_NE(error_of([&] { load_neuron_set(dir.file("missing")); }).find("missing"),
            std::string::npos);
}

TEST(NeuronSet, ASetThatDoesNotFitTheModelIsAOneLineErrorNamingTheFile) {
  const std::string f = "set.safetensors";
  model::LlamaConfig wider = config();
  wider.intermediate = 64;
  EXPECT_EQ(error_of([&] { space_of(some_set(), wider, 1, 1, f); }),
            f + ": made for a model with intermediate_size 48; this model has 64");
  model::LlamaConfig deeper = config();
  deeper.layers = 4;
  EXPECT_EQ(error_of([&] { space_of(some_set(), deeper, 1, 1, f); }),
            f + ": made for a model with num_hidden_layers 2; this model has 4");

  auto with_ids = [](std::vector<NeuronId> ids) {
    NeuronSet s = some_set();
    s.ids = ids;
    s.scores.assign(ids.size(), 1.0f);
    return s;
  };
  const NeuronId far = make_id(9, NeuronKind::Ffn, 3);
  EXPECT_EQ(error_of([&] { space_of(with_ids({far}), config(), 1, 1, f); }),
            f + ": id " + std::to_string(far) +
                " (layer 9 ffn 3) is out of range: the model has 2 layers");
  const NeuronId qo = make_id(1, NeuronKind::QO, 3);
  EXPECT_EQ(error_of([&] { space_of(with_ids({qo}), config(), 1, 1, f); }),
            f + ": id " + std::to_string(qo) +
                " (layer 1 qo 3) is of kind qo, which is not among the set's kinds (ffn,kv)");
  const NeuronId big = make_id(0, NeuronKind::KV, 16);
  EXPECT_EQ(error_of([&] { space_of(with_ids({big}), config(), 1, 1, f); }),
            f + ": id " + std::to_string(big) +
                " (layer 0 kv 16) is out of range: a layer has 16 kv neurons");
  EXPECT_EQ(error_of([&] { space_of(with_ids({-4}), config(), 1, 1, f); }),
            f + ": id -4 is not a neuron id");
  const NeuronId kind3 = (int64_t(3) << 32) | 1;
  EXPECT_EQ(error_of([&] { space_of(with_ids({kind3}), config(), 1, 1, f); }),
            f + ": id " + std::to_string(kind3) + " is not a neuron id");
  const NeuronId a = make_id(0, NeuronKind::Ffn, 1), b = make_id(0, NeuronKind::Ffn, 2);
  EXPECT_EQ(error_of([&] {
              space_of(with_ids({a, b, b}), config(), 1, 1, f);
            }),
            f + ": id " + std::to_string(b) + " (layer 0 ffn 2) appears twice");
  EXPECT_EQ(error_of([&] {
              space_of(with_ids({b, a}), config(), 1, 1, f);
            }),
            f + ": ids are not ascending: " + std::to_string(a) + " (layer 0 ffn 1) follows " +
                std::to_string(b) + " (layer 0 ffn 2)");
  EXPECT_EQ(error_of([&] { space_of(with_ids({}), config(), 1, 1, f); }),
            f + ": selects no neuron");
  NeuronSet wrong_params = some_set();
  wrong_params.params += 1;
  EXPECT_EQ(error_of([&] { space_of(wrong_params, config(), 1, 1, f); }),
            f + ": says its neurons hold 257 parameters, but in this model they hold 256");
}

TEST(NeuronSet, LocalScoresAreTheOwnedNeuronsScores) {
  const NeuronSpace whole = space("ffn,kv", false);
  std::vector<NeuronId> ids = whole.owned(0, 0);
  std::vector<float> scores;
  for (NeuronId id : ids) scores.push_back(float(id_index(id)) + 0.5f * float(id_layer(id)));
  const NeuronSet all = make_neuron_set(whole, ids, scores, "magnitude", "all", "");
  for (int tp = 0; tp < 2; ++tp)
    for (int pp = 0; pp < 2; ++pp) {
      const NeuronSpace s = space_of(all, config(), 2, 2, "scores.safetensors");
      const LocalScores mine = local_scores(all, s, tp, pp, "scores.safetensors");
      EXPECT_EQ(mine.ids, s.owned(tp, pp));
      ASSERT_EQ(mine.values.size(), mine.ids.size());
      for (size_t i = 0; i < mine.ids.size(); ++i)
        EXPECT_EQ(mine.values[i],
                  float(id_index(mine.ids[i])) + 0.5f * float(id_layer(mine.ids[i])));
    }
  // A selection is not a scores file.
  std::vector<NeuronId> fewer = ids;
  std::vector<float> fewer_scores = scores;
  fewer.erase(fewer.begin() + 10);
  fewer_scores.erase(fewer_scores.begin() + 10);
  const NeuronSet part = make_neuron_set(whole, fewer, fewer_scores, "magnitude", "10%", "global");
  const NeuronSpace s = space_of(part, config(), 1, 1, "top.safetensors");
  EXPECT_EQ(error_of([&] { local_scores(part, s, 0, 0, "top.safetensors"); }),
            "top.safetensors: no score for " + id_str(all.ids[10]) +
                " (a scores file scores every neuron; this one has 127 of the model's 128 ffn,kv "
                "neurons)");
}

TEST(NeuronSet, GatherToFirstOnOneRankSortsTheIds) {
  const auto [ids, scores] = gather_to_first({5, 9, 12}, {1.0f, 2.0f, 3.0f}, {});
  EXPECT_EQ(ids, (std::vector<NeuronId>{5, 9, 12}));
  EXPECT_EQ(scores, (std::vector<float>{1.0f, 2.0f, 3.0f}));
}

}  // namespace
}  // namespace neft::neuron
