// The backward skip (ModelOptions::skip_frozen_backward): a step that skips the backward work
// nothing trains needs is the step that runs all of it, bit for bit — the same losses, gradient
// norms and parameters after AdamW steps — because every gradient a trained parameter reads is
// computed by the same ops on the same inputs either way. Cases: FFN neurons above layer 0,
// attention neurons above layer 0, LoRA on one layer, random neurons including layer 0, and
// hooks that want backward. And the skip does skip: the input gradient the model leaves is
// not the embedding's once the blocks below the floor ran no backward.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>

#include "lora/lora.h"
#include "model/block.h"
#include "model/llama.h"
#include "neuron/neuron_space.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "tests/unit/model/random_batches.h"
#include "tests/unit/model/small_config.h"
#include "train/train_step.h"

namespace neft::model {
namespace {

using neuron::NeuronId;
using neuron::NeuronKind;
using neuron::NeuronKinds;
using neuron::NeuronSpace;

LlamaConfig config(bool tied = true) {
  LlamaConfig c = testing::small_llama_config(tied);
  c.layers = 4;  // room for frozen blocks below the lowest trained one
  return c;
}

std::vector<NeuronId> every_third_from(const NeuronSpace& space, int64_t lowest_layer) {
  std::vector<NeuronId> ids;
  const std::vector<NeuronId> all = space.owned(0, 0);
  for (size_t i = 0; i < all.size(); i += 3)
    if (neuron::id_layer(all[i]) >= lowest_layer) ids.push_back(all[i]);
  return ids;
}

struct Run {
  std::vector<double> losses, grad_norms;
  std::vector<std::vector<float>> values;
  std::vector<float> input_grad;  // the model's input_grad() after the last backward
  int64_t floor = 0;
};

// Three AdamW steps of two micro-batches each, with the skip on or off.
Run run(bool skip, const std::function<void(LlamaModel&)>& set_trainable) {
  const LlamaConfig c = config();
  ModelOptions o;
  o.skip_frozen_backward = skip;
  LlamaModel m(c, o);
  m.init_random(11);
  set_trainable(m);
  optim::AdamW opt(m.parameters(), {0.9f, 0.95f, 1e-8f, 0.1f});
  Run r;
  for (int s = 0; s < 3; ++s) {
    const train::StepResult step = train::train_step(
        m, opt, testing::random_batches(c, 2, 50 + uint32_t(s), 2, 6, 4), 1e-2f, 1.0f);
    r.losses.push_back(step.loss);
    r.grad_norms.push_back(step.grad_norm);
  }
  for (Parameter* p : m.parameters()) r.values.push_back(p->value.to_floats());
  r.input_grad = m.input_grad().to_floats();
  r.floor = m.backward_floor();
  return r;
}

// Runs with and without the skip: equal bit for bit; returns the skipping run's floor and
// whether its input gradient differs from the whole backward's.
void expect_bit_identical(const std::function<void(LlamaModel&)>& set_trainable,
                          int64_t expected_floor) {
  const Run skipped = run(true, set_trainable), whole = run(false, set_trainable);
  EXPECT_EQ(skipped.floor, expected_floor);
  EXPECT_EQ(whole.floor, -1);
  EXPECT_EQ(skipped.losses, whole.losses);
  EXPECT_EQ(skipped.grad_norms, whole.grad_norms);
  ASSERT_EQ(skipped.values.size(), whole.values.size());
  for (size_t p = 0; p < whole.values.size(); ++p)
    ASSERT_EQ(skipped.values[p], whole.values[p]) << "parameter " << p;
  // The skip did skip: with blocks left out below the floor, or only the floor block's input
  // gradient, the model's input gradient is no longer the embedding output's.
  if (expected_floor >= 0) {
    EXPECT_NE(skipped.input_grad, whole.input_grad);
  }
}

void train_neurons(LlamaModel& m, const char* kinds, int64_t lowest_layer) {
  const NeuronSpace space(m.config(), NeuronKinds::parse(kinds, /*ffn_gate=*/true));
  neuron::train_only(m, space, every_third_from(space, lowest_layer));
}

TEST(BackwardSkip, FfnNeuronsAboveLayerZeroTrainAsWithTheWholeBackward) {
  expect_bit_identical([](LlamaModel& m) { train_neurons(m, "ffn", 2); }, 2);
}

TEST(BackwardSkip, AttentionNeuronsTrainAsWithTheWholeBackward) {
  expect_bit_identical([](LlamaModel& m) { train_neurons(m, "qo", 1); }, 1);
  expect_bit_identical([](LlamaModel& m) { train_neurons(m, "kv", 3); }, 3);
  expect_bit_identical([](LlamaModel& m) { train_neurons(m, "all", 2); }, 2);
}

TEST(BackwardSkip, LoraOnOneLayerTrainsAsWithTheWholeBackward) {
  expect_bit_identical(
      [](LlamaModel& m) {
        lora::attach_lora(m, {4, 8, {"q", "v", "down"}, 0}, 5);
        for (int64_t layer = 0; layer < m.config().layers; ++layer)
          if (layer != 2)
            for (Parameter* p : m.block(layer).adapter_parameters()) p->trainable = false;
      },
      2);
}

TEST(BackwardSkip, RandomNeuronsIncludingLayerZeroTrainAsWithTheWholeBackward) {
  expect_bit_identical(
      [](LlamaModel& m) {
        const NeuronSpace space(m.config(), NeuronKinds::parse("all", true));
        std::vector<NeuronId> all = space.owned(0, 0), ids;
        std::mt19937 rng(3);
        std::shuffle(all.begin(), all.end(), rng);
        ids.assign(all.begin(), all.begin() + int64_t(all.size()) / 20);
        ids.push_back(neuron::make_id(0, NeuronKind::Ffn, 1));  // layer 0 for certain
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
        neuron::train_only(m, space, ids);
      },
      0);
}

TEST(BackwardSkip, NormsAndTheEmbeddingMoveTheFloor) {
  expect_bit_identical(
      [](LlamaModel& m) {
        neuron::freeze_all(m);
        m.parameter("model.layers.1.post_attention_layernorm.weight").trainable = true;
        m.parameter("model.layers.3.mlp.down_proj.weight").trainable = true;
      },
      1);
  expect_bit_identical(
      [](LlamaModel& m) {
        neuron::freeze_all(m);
        m.parameter("model.layers.2.input_layernorm.weight").trainable = true;
      },
      2);
  // A trained (tied) embedding needs every block's input gradient: nothing is skipped.
  expect_bit_identical([](LlamaModel& m) { neuron::train_all(m); }, -1);
}

// Hooks that want backward (attribution scoring) see every layer's gradients: no skip.
struct GradientHooks : UnitHooks {
  bool wants_backward() const override { return true; }
};

TEST(BackwardSkip, HooksThatWantBackwardTurnTheSkipOff) {
  const LlamaConfig c = config();
  LlamaModel m(c);
  m.init_random(11);
  const NeuronSpace space(c, NeuronKinds::parse("ffn"));
  neuron::train_only(m, space, every_third_from(space, 2));
  EXPECT_EQ(m.backward_floor(), 2);
  GradientHooks hooks;
  m.set_unit_hooks(&hooks);
  EXPECT_EQ(m.backward_floor(), -1);
  m.set_unit_hooks(nullptr);
  EXPECT_EQ(m.backward_floor(), 2);
}

// Under tensor or pipeline parallelism the floor must be agreed (train/backward_floor.h);
// without it the whole backward runs, and trainability changes clear it.
TEST(BackwardSkip, ASplitModelSkipsOnlyWithAnAgreedFloor) {
  const LlamaConfig c = config(/*tied=*/false);  // pipeline stages hold no tied head
  ModelOptions o;
  o.pp_stages = 2;
  o.pp_stage = 1;
  LlamaModel m(c, o);
  const NeuronSpace space(c, NeuronKinds::parse("ffn"), 1, 2);
  neuron::train_only(m, space, every_third_from(NeuronSpace(c, NeuronKinds::parse("ffn")), 3));
  EXPECT_EQ(m.backward_floor(), -1);
  EXPECT_TRUE(m.gives_input_grad());
  m.set_agreed_floor(3);
  EXPECT_EQ(m.backward_floor(), 3);
  EXPECT_FALSE(m.gives_input_grad());
  EXPECT_TRUE(m.runs_backward());
  neuron::train_all(m);
  EXPECT_EQ(m.backward_floor(), -1);
}

}  // namespace
}  // namespace neft::model
