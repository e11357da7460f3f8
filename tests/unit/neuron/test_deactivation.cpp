// Deactivation against its definition in weights: zeroing ffn unit j's output is zeroing row j
// of up_proj, qo unit i's is zeroing column i of o_proj, kv unit i's is zeroing rows i of
// k_proj and v_proj. Each gives the same logits, loss and gradients bit for bit (the zeroed
// terms are exact zeros either way), through training's forward, its backward and cached
// generation. The random control sets match the set's counts per kind or per layer and kind;
// overlap is intersection over union, overall and per layer.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "../model/small_config.h"
#include "model/llama.h"
#include "neuron/deactivation.h"
#include "neuron/neuron_space.h"
#include "neuron/overlap.h"
#include "runtime/error.h"
#include "tests/unit/model/random_batches.h"
#include "train/train_step.h"

namespace neft::neuron {
namespace {

using model::LlamaModel;

// Zeroes the vectors whose product with the input is the unit's output.
void zero_in_weights(LlamaModel& m, NeuronId id) {
  const int64_t layer = id_layer(id), i = id_index(id);
  auto zero_row = [&](const char* name) {
    Parameter& p = m.parameter("model.layers." + std::to_string(layer) + "." + name);
    float* w = p.value.data<float>();
    for (int64_t c = 0; c < p.value.size(1); ++c) w[i * p.value.size(1) + c] = 0;
  };
  switch (id_kind(id)) {
    case NeuronKind::Ffn:
      zero_row("mlp.up_proj.weight");
      break;
    case NeuronKind::QO: {
      Parameter& o =
          m.parameter("model.layers." + std::to_string(layer) + ".self_attn.o_proj.weight");
      float* w = o.value.data<float>();
      for (int64_t r = 0; r < o.value.size(0); ++r) w[r * o.value.size(1) + i] = 0;
      break;
    }
    case NeuronKind::KV:
      zero_row("self_attn.k_proj.weight");
      zero_row("self_attn.v_proj.weight");
      break;
  }
}

// Loss and every gradient but the zeroed weights' own (which differ by construction: one
// model has weights that are zero, the other has not).
struct Pass {
  double loss;
  std::map<std::string, std::vector<float>> grads;
};
Pass pass(LlamaModel& m, const std::vector<data::Batch>& batches) {
  Pass p{train::forward_backward(m, batches).loss, {}};
  for (const Parameter* q : m.parameters())
    if (q->name.find("up_proj") == std::string::npos &&
        q->name.find("o_proj") == std::string::npos &&
        q->name.find("k_proj") == std::string::npos && q->name.find("v_proj") == std::string::npos)
      p.grads[q->name] = q->grad.to_floats();
  return p;
}

TEST(Deactivation, EqualsZeroingTheUnitsWeights) {
  const model::LlamaConfig c = testing::small_llama_config(false);
  const NeuronSpace space(c, NeuronKinds::parse("all"));
  const std::vector<NeuronId> ids = {make_id(0, NeuronKind::Ffn, 3), make_id(1, NeuronKind::Ffn, 0),
                                     make_id(0, NeuronKind::QO, 5), make_id(1, NeuronKind::KV, 2),
                                     make_id(1, NeuronKind::KV, 7)};
  LlamaModel hooked(c), zeroed(c);
  hooked.init_random(5, 0.2f);
  zeroed.init_random(5, 0.2f);
  for (NeuronId id : ids) zero_in_weights(zeroed, id);
  const std::vector<data::Batch> batches = ::neft::testing::random_batches(c, 2, 9);

  const Pass plain = pass(hooked, batches);
  Pass with_hooks;
  {
    Deactivation off(hooked, space, ids);
    EXPECT_EQ(off.local_neurons(), int64_t(ids.size()));
    with_hooks = pass(hooked, batches);
  }
  const Pass in_weights = pass(zeroed, batches);
  EXPECT_EQ(with_hooks.loss, in_weights.loss);
  EXPECT_EQ(with_hooks.grads, in_weights.grads);
  EXPECT_NE(with_hooks.loss, plain.loss);  // the units mattered
  // The hooks came off with the Deactivation.
  EXPECT_EQ(pass(hooked, batches).loss, plain.loss);

  // Cached generation (its own forward) zeroes the same outputs.
  Deactivation off(hooked, space, ids);
  const Tensor tokens = Tensor::from_ints({3, 1, 4, 1, 5}, {1, 5});
  const Tensor positions = Tensor::from_ints({0, 1, 2, 3, 4}, {1, 5});
  model::KvCache a = hooked.make_cache(1, 8), b = zeroed.make_cache(1, 8);
  EXPECT_EQ(hooked.decode(tokens, positions, a).to_floats(),
            zeroed.decode(tokens, positions, b).to_floats());
}

TEST(Deactivation, ForeignIdsAndLayoutsAreClearErrors) {
  const model::LlamaConfig c = testing::small_llama_config(false);
  LlamaModel m(c);
  const NeuronSpace ffn(c, NeuronKinds::parse("ffn")), tp2(c, NeuronKinds::parse("ffn"), 2);
  EXPECT_THROW(Deactivation(m, ffn, {make_id(0, NeuronKind::QO, 1)}), Error);
  EXPECT_THROW(Deactivation(m, ffn, {make_id(c.layers, NeuronKind::Ffn, 1)}), Error);
  EXPECT_THROW(Deactivation(m, tp2, {make_id(0, NeuronKind::Ffn, 1)}), Error);
  EXPECT_THROW(random_match_from_name("layers"), Error);
}

TEST(RandomLike, MatchesCountsPerKindOrLayerAndDependsOnTheSeedOnly) {
  const model::LlamaConfig c = testing::small_llama_config(false);
  const NeuronSpace space(c, NeuronKinds::parse("all"));
  std::vector<NeuronId> set;
  for (int64_t i = 0; i < 6; ++i) set.push_back(make_id(0, NeuronKind::Ffn, i));
  for (int64_t i = 0; i < 3; ++i) set.push_back(make_id(1, NeuronKind::QO, i));
  set.push_back(make_id(1, NeuronKind::KV, 0));
  auto counts = [](const std::vector<NeuronId>& ids, bool per_layer) {
    std::map<std::pair<int64_t, int>, int> n;
    for (NeuronId id : ids) ++n[{per_layer ? id_layer(id) : -1, int(id_kind(id))}];
    return n;
  };
  for (RandomMatch match : {RandomMatch::Kind, RandomMatch::Layer}) {
    const bool per_layer = match == RandomMatch::Layer;
    const std::vector<NeuronId> a = random_like(set, space, match, 1);
    EXPECT_EQ(counts(a, per_layer), counts(set, per_layer));
    EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
    EXPECT_EQ(std::set<NeuronId>(a.begin(), a.end()).size(), a.size());  // without replacement
    EXPECT_EQ(random_like(set, space, match, 1), a);
    EXPECT_NE(random_like(set, space, match, 2), a);
  }
  // Matched by kind, the ffn neurons spread over the layers.
  std::set<int64_t> layers;
  for (NeuronId id : random_like(set, space, RandomMatch::Kind, 4))
    if (id_kind(id) == NeuronKind::Ffn) layers.insert(id_layer(id));
  EXPECT_GT(layers.size(), 1u);
  // A whole group drawn is the whole group.
  std::vector<NeuronId> all_ffn0;
  for (int64_t i = 0; i < c.intermediate; ++i) all_ffn0.push_back(make_id(0, NeuronKind::Ffn, i));
  EXPECT_EQ(random_like(all_ffn0, space, RandomMatch::Layer, 3), all_ffn0);
}

TEST(Overlap, IsIntersectionOverUnionOverallAndPerLayer) {
  auto f = [](int64_t layer, int64_t i) { return make_id(layer, NeuronKind::Ffn, i); };
  const std::vector<NeuronId> a = {f(0, 1), f(0, 2), f(0, 3), f(1, 0)};
  const std::vector<NeuronId> b = {f(0, 2), f(0, 3), f(0, 4), f(2, 5)};
  const SetOverlap all = overlap(a, b);
  EXPECT_EQ(all.common, 2);
  EXPECT_EQ(all.either, 6);
  EXPECT_DOUBLE_EQ(all.iou(), 2.0 / 6.0);
  EXPECT_DOUBLE_EQ(overlap(a, a).iou(), 1.0);
  const std::vector<SetOverlap> layers = overlap_per_layer(a, b, 4);
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_DOUBLE_EQ(layers[0].iou(), 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(layers[1].iou(), 0.0);
  EXPECT_DOUBLE_EQ(layers[2].iou(), 0.0);
  EXPECT_TRUE(std::isnan(layers[3].iou()));  // neither has a neuron there
}

}  // namespace
}  // namespace neft::neuron
