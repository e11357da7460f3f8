// Neuron-level training on one rank: it trains exactly the selected rows and columns and
// nothing else. Selecting every neuron of a kind reproduces full fine-tuning of its matrices;
// selecting none changes nothing; unselected entries stay bit-identical to the base; the
// training state is exactly the selected rows' master, moments and gradient.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>

#include "../model/small_config.h"
#include "model/llama.h"
#include "neuron/neuron_space.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "tests/unit/model/random_batches.h"
#include "train/train_step.h"

namespace neft::neuron {
namespace {

using model::LlamaConfig;
using model::LlamaModel;

std::vector<data::Batch> random_batches(const LlamaConfig& c, int count, uint32_t seed) {
  return ::neft::testing::random_batches(c, count, seed, 2, 6, 4);
}

// Losses of `steps` AdamW steps (weight decay on, clipping on) over fixed micro-batches.
std::vector<double> train(LlamaModel& m, int steps, const LlamaConfig& c) {
  optim::AdamW opt(m.parameters(), {0.9f, 0.95f, 1e-8f, 0.1f});
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s)
    losses.push_back(
        train::train_step(m, opt, random_batches(c, 2, 100 + uint32_t(s)), 1e-2f, 0.5f).loss);
  return losses;
}

std::vector<std::vector<float>> weights_of(LlamaModel& m) {
  std::vector<std::vector<float>> out;
  for (Parameter* p : m.parameters()) out.push_back(p->value.to_floats());
  return out;
}

bool is_ffn_matrix(const std::string& name) {
  return name.find("up_proj") != std::string::npos || name.find("down_proj") != std::string::npos;
}

TEST(NeuronTraining, EveryNeuronOfAKindIsFullFineTuningOfItsMatrices) {
  const LlamaConfig c = testing::small_llama_config(false);
  LlamaModel dense(c), neuron(c);
  dense.init_random(7);
  neuron.init_random(7);
  for (Parameter* p : dense.parameters()) p->trainable = is_ffn_matrix(p->name);
  const NeuronSpace space(c, NeuronKinds::parse("ffn"));
  train_only(neuron, space, space.owned(0, 0));

  const std::vector<double> a = train(dense, 4, c), b = train(neuron, 4, c);
  for (size_t s = 0; s < a.size(); ++s) EXPECT_NEAR(a[s], b[s], 1e-5 * std::abs(a[s])) << s;
  const auto wa = weights_of(dense), wb = weights_of(neuron);
  for (size_t p = 0; p < wa.size(); ++p)
    for (size_t i = 0; i < wa[p].size(); ++i)
      ASSERT_NEAR(wa[p][i], wb[p][i], 1e-5) << dense.parameters()[p]->name << "[" << i << "]";
}

TEST(NeuronTraining, AnEmptySelectionChangesNothing) {
  const LlamaConfig c = testing::small_llama_config(false);
  LlamaModel m(c);
  m.init_random(3);
  const auto before = weights_of(m);
  train_only(m, NeuronSpace(c, NeuronKinds::parse("all")), {});
  train(m, 2, c);
  EXPECT_EQ(weights_of(m), before);
}

TEST(NeuronTraining, OnlySelectedRowsMoveAndEveryOtherWeightStaysBitIdentical) {
  const LlamaConfig c = testing::small_llama_config(false);
  LlamaModel m(c);
  m.init_random(5);
  const auto before = weights_of(m);
  const NeuronSpace space(c, NeuronKinds::parse("all", /*ffn_gate=*/true));
  const std::vector<NeuronId> selected = {
      make_id(0, NeuronKind::Ffn, 3), make_id(0, NeuronKind::QO, 9), make_id(1, NeuronKind::KV, 0),
      make_id(1, NeuronKind::Ffn, 47)};
  train_only(m, space, selected);
  std::vector<NeuronId> sorted = selected;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(trained_neurons(m, space), sorted);
  train(m, 3, c);

  // Which (parameter, row or column) each selected neuron moves.
  std::set<std::pair<std::string, int64_t>> moved;
  for (NeuronId id : selected)
    for (const NeuronMatrix& mat : space.matrices(id_kind(id)))
      moved.insert({parameter_name(id_layer(id), mat), id_index(id) * 2 + mat.axis});
  const auto after = weights_of(m);
  const ParameterList params = m.parameters();
  int changed_vectors = 0;
  for (size_t p = 0; p < params.size(); ++p) {
    const Shape& shape = params[p]->value.shape();
    const int64_t cols = shape.size() == 2 ? shape[1] : shape[0];
    for (size_t i = 0; i < after[p].size(); ++i) {
      const int64_t row = int64_t(i) / cols, col = int64_t(i) % cols;
      const bool selected_entry = moved.count({params[p]->name, row * 2 + 0}) ||
                                  moved.count({params[p]->name, col * 2 + 1});
      if (!selected_entry) {
        ASSERT_EQ(after[p][i], before[p][i]) << params[p]->name << "[" << i << "]";
      } else if (after[p][i] != before[p][i]) {
        ++changed_vectors;
      }
    }
  }
  EXPECT_GT(changed_vectors, 0);
}

TEST(NeuronTraining, TrainingStateIsTheSelectedRowsOnly) {
  const LlamaConfig c = testing::small_llama_config(false);
  LlamaModel m(c);
  m.init_random(1);
  const NeuronSpace space(c, NeuronKinds::parse("ffn,qo"));
  const std::vector<NeuronId> selected = {make_id(0, NeuronKind::Ffn, 1),
                                          make_id(0, NeuronKind::Ffn, 2),
                                          make_id(1, NeuronKind::QO, 5)};
  train_only(m, space, selected);
  optim::AdamW opt(m.parameters(), {});
  m.zero_grad();
  // master + exp_avg + exp_avg_sq + gradient, f32, per selected element; nothing else.
  const int64_t elements = space.params_of(selected);
  EXPECT_EQ(opt.trained_parameters(), elements);
  EXPECT_EQ(opt.state_bytes(), size_t(elements) * 4 * sizeof(float));
}

}  // namespace
}  // namespace neft::neuron
