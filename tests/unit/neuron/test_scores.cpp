// The scorers on one rank: cosine is 0 for unchanged weights and highest for the neuron a
// probe turned; magnitude and wgrad are the norms of the neuron's weight and gradient
// vectors; random depends on the seed alone; signed attribution is the derivative of the loss
// when a unit is scaled, checked against central finite differences for each kind, and the
// same with recompute on and off.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "../model/small_config.h"
#include "model/llama.h"
#include "neuron/neuron_space.h"
#include "neuron/scorer.h"
#include "neuron/scores.h"
#include "neuron/trainable.h"
#include "runtime/ops/elementwise.h"
#include "tests/unit/model/random_batches.h"
#include "train/train_step.h"

namespace neft::neuron {
namespace {

using model::LlamaConfig;
using model::LlamaModel;

using ::neft::testing::random_batches;

std::string layer_matrix(int64_t layer, const char* name) {
  return "model.layers." + std::to_string(layer) + "." + name;
}

// The mean loss over the batches' counted tokens: what forward_backward differentiates.
double mean_loss(LlamaModel& m, const std::vector<data::Batch>& batches) {
  double sum = 0;
  int64_t count = 0;
  for (const data::Batch& b : batches) {
    const data::BatchTensors t = data::to_tensors(b, Device::CPU);
    sum += m.forward(t.tokens, t.targets, t.positions).loss_sum;
    count += b.counted();
  }
  return sum / double(count);
}

// Multiplies row (axis 0) or column (axis 1) i of a matrix by `factor`.
void scale_vector(Parameter& p, int axis, int64_t i, float factor) {
  float* w = p.value.data<float>();
  const int64_t R = p.value.size(0), C = p.value.size(1);
  if (axis == 0)
    for (int64_t c = 0; c < C; ++c) w[i * C + c] *= factor;
  else
    for (int64_t r = 0; r < R; ++r) w[r * C + i] *= factor;
}

// d(mean loss)/d(eps) when the given vectors are scaled by (1 + eps), by central differences.
struct VectorRef {
  std::string name;
  int axis;
  int64_t index;
};
double scaling_derivative(LlamaModel& m, const std::vector<data::Batch>& batches,
                          const std::vector<VectorRef>& vectors) {
  const double eps = 1e-2;
  std::vector<Tensor> saved;
  for (const VectorRef& v : vectors) saved.push_back(m.parameter(v.name).value.clone());
  auto at = [&](double e) {
    for (size_t k = 0; k < vectors.size(); ++k) {
      Parameter& p = m.parameter(vectors[k].name);
      p.value.copy_from(saved[k]);
      scale_vector(p, vectors[k].axis, vectors[k].index, float(1.0 + e));
    }
    return mean_loss(m, batches);
  };
  const double d = (at(eps) - at(-eps)) / (2 * eps);
  for (size_t k = 0; k < vectors.size(); ++k)
    m.parameter(vectors[k].name).value.copy_from(saved[k]);
  return d;
}

std::unique_ptr<LlamaModel> make_model(bool recompute = false) {
  model::ModelOptions o;
  o.recompute = recompute;
  auto m = std::make_unique<LlamaModel>(testing::small_llama_config(false), o);
  m->init_random(21, 0.2f);
  return m;
}

float value_of(const LocalScores& s, NeuronId id) {
  const auto it = std::find(s.ids.begin(), s.ids.end(), id);
  EXPECT_NE(it, s.ids.end()) << id_str(id);
  return s.values[size_t(it - s.ids.begin())];
}

TEST(Scores, NamesRoundTripAndUnknownOnesAreClearErrors) {
  const std::vector<std::string> names = scorer_names();
  EXPECT_EQ(names,
            (std::vector<std::string>{"cosine", "attribution", "wgrad", "magnitude", "random"}));
  for (const std::string& name : names) {
    EXPECT_EQ(find_scorer(name).name, name);
    EXPECT_NE(find_scorer(name).make(), nullptr);
  }
  for (AttributionRule r : {AttributionRule::TokenAbs, AttributionRule::AbsTotal})
    EXPECT_EQ(attribution_rule_from_name(attribution_rule_name(r)), r);
  EXPECT_STREQ(attribution_rule_name(AttributionRule::TokenAbs), "token-abs");
  try {
    find_scorer("cosin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown scorer 'cosin' (expected cosine, attribution, "
                                         "wgrad, magnitude, random)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(attribution_rule_from_name("abs"), Error);
}

TEST(Scores, CosineIsZeroForUnchangedWeightsAndHighestForTheTurnedNeuron) {
  auto m = make_model();
  const NeuronSpace space(m->config(), NeuronKinds::parse("all", true));
  const WeightSnapshot base = snapshot_weights(*m, space);
  const LocalScores same = score_cosine(space, *m, base, base);
  ASSERT_EQ(same.ids, space.owned(0, 0));
  for (float v : same.values) EXPECT_NEAR(v, 0.0f, 1e-6f);

  // Turn one kv neuron: add noise to row 5 of layer 1's v_proj.
  WeightSnapshot probe = base;
  Tensor& v = probe.at(layer_matrix(1, "self_attn.v_proj.weight"));
  v = v.clone();
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 0.2f);
  for (int64_t c = 0; c < v.size(1); ++c) v.data<float>()[5 * v.size(1) + c] += noise(rng);
  const LocalScores turned = score_cosine(space, *m, base, probe);
  const size_t top =
      size_t(std::max_element(turned.values.begin(), turned.values.end()) - turned.values.begin());
  EXPECT_EQ(turned.ids[top], make_id(1, NeuronKind::KV, 5));
  EXPECT_GT(turned.values[top], 0.01f);
  // A zero vector counts as unchanged.
  WeightSnapshot zero = base;
  zero.at(layer_matrix(0, "mlp.up_proj.weight")).zero_();
  for (float s :
       score_cosine(NeuronSpace(m->config(), NeuronKinds::parse("ffn")), *m, zero, zero).values)
    EXPECT_NEAR(s, 0.0f, 1e-6f);
}

TEST(Scores, MagnitudeIsTheNormOfTheNeuronsVectors) {
  auto m = make_model();
  const LlamaConfig& c = m->config();
  const NeuronSpace ffn(c, NeuronKinds::parse("ffn"));
  for (int64_t l = 0; l < c.layers; ++l) {
    ops::fill(m->parameter(layer_matrix(l, "mlp.up_proj.weight")).value, 0.5f);
    ops::fill(m->parameter(layer_matrix(l, "mlp.down_proj.weight")).value, -0.25f);
  }
  // sqrt(32 * 0.25 + 32 * 0.0625) = sqrt(10) for every ffn unit.
  for (float v : score_magnitude(ffn, *m).values) EXPECT_NEAR(v, std::sqrt(10.0f), 1e-5f);

  // Every kind, against a naive sum over rows and columns.
  auto m2 = make_model();
  const NeuronSpace all(c, NeuronKinds::parse("all"));
  const LocalScores s = score_magnitude(all, *m2);
  ASSERT_EQ(s.ids, all.owned(0, 0));
  for (size_t k = 0; k < s.ids.size(); k += 7) {
    const NeuronId id = s.ids[k];
    double sq = 0;
    for (const NeuronMatrix& mat : all.matrices(id_kind(id))) {
      const Parameter& p = m2->parameter(layer_matrix(id_layer(id), mat.name));
      const std::vector<float> w = p.value.to_floats();
      const int64_t C = p.value.size(1);
      for (int64_t e = 0; e < p.value.numel(); ++e)
        if ((mat.axis == 0 ? e / C : e % C) == id_index(id))
          sq += double(w[size_t(e)]) * w[size_t(e)];
    }
    EXPECT_NEAR(s.values[k], std::sqrt(sq), 1e-5 * std::sqrt(sq)) << id_str(id);
  }
}

TEST(Scores, RandomDependsOnTheSeedOnly) {
  auto m = make_model();
  const NeuronSpace space(m->config(), NeuronKinds::parse("all"));
  const LocalScores a = score_random(space, *m, 5), b = score_random(space, *m, 5),
                    c = score_random(space, *m, 6);
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(a.ids, space.owned(0, 0));
  size_t differ = 0;
  for (size_t i = 0; i < a.values.size(); ++i) {
    EXPECT_GE(a.values[i], 0.0f);
    EXPECT_LT(a.values[i], 1.0f);
    differ += a.values[i] != c.values[i];
  }
  EXPECT_GT(differ, a.values.size() * 9 / 10);
  // Not ordered by id: the ranking is a shuffle.
  EXPECT_FALSE(std::is_sorted(a.values.begin(), a.values.end()));
}

TEST(Scores, RestoreWeightsIsBitwise) {
  auto m = make_model();
  const NeuronSpace space(m->config(), NeuronKinds::parse("all", true));
  const WeightSnapshot base = snapshot_weights(*m, space);
  std::vector<std::vector<float>> before;
  for (Parameter* p : m->parameters()) before.push_back(p->value.to_floats());
  for (const auto& [name, w] : base) ops::scale(m->parameter(name).value, 1.5f);
  restore_weights(*m, base);
  const ParameterList after = m->parameters();
  for (size_t i = 0; i < after.size(); ++i) {
    const std::vector<float> w = after[i]->value.to_floats();
    EXPECT_EQ(std::memcmp(w.data(), before[i].data(), w.size() * 4), 0) << after[i]->name;
  }
}

// Signed attribution of every kind against the finite-difference derivative of the loss
// when the unit is scaled: ffn j by column j of down_proj, qo i by column i of o_proj, and
// kv i by row i of k_proj plus row i of v_proj, whose two derivatives add up.
TEST(Scores, AbsTotalAttributionIsTheDerivativeOfTheLossUnderScaling) {
  auto m = make_model();
  const auto batches = random_batches(m->config(), 2, 9);
  const NeuronSpace space(m->config(), NeuronKinds::parse("all"));
  const LocalScores s = score_attribution(
      space, *m, AttributionRule::AbsTotal, [&] { train::forward_backward(*m, batches); }, nullptr);
  ASSERT_EQ(s.ids, space.owned(0, 0));
  for (Parameter* p : m->parameters()) EXPECT_FALSE(p->trainable) << p->name;

  double largest = 0;
  for (float v : s.values) largest = std::max(largest, double(v));
  ASSERT_GT(largest, 1e-4);
  // Central differences at eps 1e-2 are good to ~6e-5 of the largest value here; using the
  // post-RoPE k for kv units errs by over 1e-3 of it.
  const double tol = 2e-4 * largest;
  for (int64_t layer : {0, 1}) {
    for (int64_t j : {0, 13, 47}) {
      const double d =
          scaling_derivative(*m, batches, {{layer_matrix(layer, "mlp.down_proj.weight"), 1, j}});
      EXPECT_NEAR(value_of(s, make_id(layer, NeuronKind::Ffn, j)), std::abs(d), tol)
          << "layer " << layer << " ffn " << j;
    }
    for (int64_t i : {0, 9, 31}) {
      const double d =
          scaling_derivative(*m, batches, {{layer_matrix(layer, "self_attn.o_proj.weight"), 1, i}});
      EXPECT_NEAR(value_of(s, make_id(layer, NeuronKind::QO, i)), std::abs(d), tol)
          << "layer " << layer << " qo " << i;
    }
    for (int64_t i : {0, 6, 15}) {
      const double dk =
          scaling_derivative(*m, batches, {{layer_matrix(layer, "self_attn.k_proj.weight"), 0, i}});
      const double dv =
          scaling_derivative(*m, batches, {{layer_matrix(layer, "self_attn.v_proj.weight"), 0, i}});
      EXPECT_NEAR(value_of(s, make_id(layer, NeuronKind::KV, i)), std::abs(dk + dv), tol)
          << "layer " << layer << " kv " << i;
      // Both rows at once: the same derivative (first order).
      const double both =
          scaling_derivative(*m, batches,
                             {{layer_matrix(layer, "self_attn.k_proj.weight"), 0, i},
                              {layer_matrix(layer, "self_attn.v_proj.weight"), 0, i}});
      EXPECT_NEAR(both, dk + dv, tol) << "layer " << layer << " kv " << i;
    }
  }
}

TEST(Scores, TokenAbsBoundsAbsTotalAndRecomputeChangesNothing) {
  auto plain = make_model(false), recompute = make_model(true);
  const auto batches = random_batches(plain->config(), 3, 4);
  const NeuronSpace space(plain->config(), NeuronKinds::parse("all"));
  auto score = [&](LlamaModel& m, AttributionRule r) {
    return score_attribution(
        space, m, r, [&] { train::forward_backward(m, batches); }, nullptr);
  };
  const LocalScores a = score(*plain, AttributionRule::TokenAbs);
  const LocalScores b = score(*recompute, AttributionRule::TokenAbs);
  const LocalScores total = score(*plain, AttributionRule::AbsTotal);
  ASSERT_EQ(a.values.size(), b.values.size());
  for (size_t i = 0; i < a.values.size(); ++i) {
    EXPECT_EQ(a.values[i], b.values[i]) << id_str(a.ids[i]);
    EXPECT_GE(a.values[i] * (1 + 1e-5f), total.values[i]) << id_str(a.ids[i]);
    EXPECT_GT(a.values[i], 0.0f) << id_str(a.ids[i]);
  }
}

TEST(Scores, WgradIsTheNormOfTheDenseGradientVectors) {
  auto m = make_model();
  const auto batches = random_batches(m->config(), 2, 5);
  const NeuronSpace space(m->config(), NeuronKinds::parse("all", true));
  // The dense gradients of a full backward.
  train::forward_backward(*m, batches);
  std::map<std::string, std::vector<float>> grads;
  for (Parameter* p : m->parameters()) grads[p->name] = p->grad.to_floats();

  const LocalScores s = score_wgrad(space, *m, [&] { train::forward_backward(*m, batches); });
  ASSERT_EQ(s.ids, space.owned(0, 0));
  for (Parameter* p : m->parameters()) {
    EXPECT_FALSE(p->trainable) << p->name;
    EXPECT_FALSE(p->grad.defined()) << p->name;
  }
  for (size_t k = 0; k < s.ids.size(); k += 5) {
    const NeuronId id = s.ids[k];
    double sq = 0;
    for (const NeuronMatrix& mat : space.matrices(id_kind(id))) {
      const std::string name = layer_matrix(id_layer(id), mat.name);
      const int64_t C = m->parameter(name).value.size(1);
      const std::vector<float>& g = grads.at(name);
      for (size_t e = 0; e < g.size(); ++e)
        if ((mat.axis == 0 ? int64_t(e) / C : int64_t(e) % C) == id_index(id))
          sq += double(g[e]) * g[e];
    }
    EXPECT_NEAR(s.values[k], std::sqrt(sq), 1e-5 * std::sqrt(sq) + 1e-9) << id_str(id);
  }
}

TEST(Scores, ALayerOffTheStageIsAClearError) {
  model::ModelOptions o;
  o.pp_stage = 1;
  o.pp_stages = 2;
  LlamaModel m(testing::small_llama_config(false), o);
  EXPECT_EQ(m.layers().first, 1);
  EXPECT_NO_THROW(m.block(1));
  try {
    m.block(0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0 is not on pipeline stage 1"), std::string::npos)
        << e.what();
  }
  // A space of another layout is refused.
  const NeuronSpace single(m.config(), NeuronKinds::parse("ffn"));
  EXPECT_THROW(score_magnitude(single, m), Error);
}

}  // namespace
}  // namespace neft::neuron
