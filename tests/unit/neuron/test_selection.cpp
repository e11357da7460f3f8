// Selection on one rank against a plain reference: sort every neuron by (score descending, id
// ascending) and take the longest prefix the allowance holds. Budgets of every unit, kinds with
// different parameters per neuron (ffn with its gate: 3 vectors; qo: 2), ties, per-layer
// shares, the balanced scope, and the one-line errors. The same selections at tp/pp layouts
// are tests/parallel/test_selection_layouts.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "../model/small_config.h"
#include "neuron/selection.h"
#include "runtime/error.h"
#include "tests/unit/error_of.h"

namespace neft::neuron {
namespace {

using ::neft::testing::error_of;

// hidden 32, intermediate 48, 3 layers, q_dim 32: ffn 48 x 96 parameters, qo 32 x 64 a layer.
model::LlamaConfig config() {
  model::LlamaConfig c = testing::small_llama_config(false);
  c.layers = 3;
  return c;
}

NeuronSpace mixed_space() { return NeuronSpace(config(), NeuronKinds::parse("ffn,qo", true)); }

// Few distinct values (so many ties), negative ones, and a zero of each sign.
float score_of(NeuronId id) {
  const int64_t v = (id_index(id) * 37 + id_layer(id) * 11 + int64_t(id_kind(id)) * 5) % 13;
  if (v == 6) return -0.0f;
  return float(v - 6) * 0.25f;
}

LocalScores scores_of(const NeuronSpace& space, float (*score)(NeuronId) = score_of) {
  LocalScores s;
  s.ids = space.owned(0, 0);
  for (NeuronId id : s.ids) s.values.push_back(score(id));
  return s;
}

// The reference: the longest prefix of the order within `ids` that holds at most max_neurons
// neurons and max_params parameters; ascending ids.
std::vector<NeuronId> reference(const NeuronSpace& space, std::vector<NeuronId> ids,
                                const LocalScores& s, int64_t max_neurons, int64_t max_params) {
  auto score = [&](NeuronId id) {
    return s.values[size_t(std::lower_bound(s.ids.begin(), s.ids.end(), id) - s.ids.begin())];
  };
  std::sort(ids.begin(), ids.end(), [&](NeuronId a, NeuronId b) {
    return score(a) != score(b) ? score(a) > score(b) : a < b;
  });
  std::vector<NeuronId> out;
  int64_t params = 0;
  for (NeuronId id : ids) {
    if (int64_t(out.size()) + 1 > max_neurons || params + space.params_of(id) > max_params) break;
    out.push_back(id);
    params += space.params_of(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

constexpr int64_t kAny = std::numeric_limits<int64_t>::max();

Selection select(const NeuronSpace& space, const LocalScores& s, const std::string& budget,
                 Scope scope = Scope::Global) {
  return select_neurons(space, s, Budget::parse(budget), scope, {});
}

double sum_of(const std::vector<float>& v) {
  double x = 0;
  for (float f : v) x += f;
  return x;
}

TEST(Budget, ParsesEveryUnitAndPrintsItBack) {
  const Budget n = Budget::parse("1000");
  EXPECT_EQ(n.unit, Budget::Unit::Neurons);
  EXPECT_EQ(n.value, 1000);
  const Budget f = Budget::parse("5%");
  EXPECT_EQ(f.unit, Budget::Unit::NeuronFraction);
  EXPECT_DOUBLE_EQ(f.value, 0.05);
  const Budget p = Budget::parse("0.4%params");
  EXPECT_EQ(p.unit, Budget::Unit::ParamFraction);
  EXPECT_DOUBLE_EQ(p.value, 0.004);
  const Budget l = Budget::parse("lora:8");
  EXPECT_EQ(l.unit, Budget::Unit::LoraRank);
  EXPECT_EQ(l.value, 8);
  for (const char* text : {"1000", "0", "5%", "0.5%", "100%", "12%params", "0.4%params", "lora:8"})
    EXPECT_EQ(Budget::parse(text).str(), text);
}

TEST(Budget, MalformedNegativeAndAbove100PercentAreOneLineErrors) {
  const std::string forms =
      " is malformed (expected a neuron count such as 1000, a share of the neurons such as 5%, a "
      "share of the model's parameters such as 5%params, or a LoRA rank such as lora:8)";
  for (const char* text : {"", "abc", "5%%", "1e3", "nan", "inf%", "lora:", "5 %", "%params",
                           "1.2.3", "lora:x", "5%param"})
    EXPECT_EQ(error_of([&] { Budget::parse(text); }), "budget '" + std::string(text) + "'" + forms)
        << text;
  EXPECT_EQ(error_of([] { Budget::parse("-5"); }), "budget -5 is negative");
  EXPECT_EQ(error_of([] { Budget::parse("-5%"); }), "budget -5% is negative");
  EXPECT_EQ(error_of([] { Budget::parse("lora:-1"); }), "budget lora:-1 is negative");
  EXPECT_EQ(error_of([] { Budget::parse("120%"); }), "budget 120% is above 100%");
  EXPECT_EQ(error_of([] { Budget::parse("100.5%params"); }), "budget 100.5%params is above 100%");
  EXPECT_EQ(error_of([] { Budget::parse("10.5"); }),
            "budget 10.5: a neuron count is a whole number (a share of the neurons is 10.5%)");
  EXPECT_EQ(error_of([] { Budget::parse("lora:2.5"); }),
            "budget lora:2.5: a LoRA rank is a whole number");
}

TEST(Scope, NamesRoundTripAndUnknownNamesAreErrors) {
  for (Scope s : {Scope::Global, Scope::PerLayer, Scope::Balanced})
    EXPECT_EQ(scope_from_name(scope_name(s)), s);
  EXPECT_EQ(error_of([] { scope_from_name("local"); }),
            "scope 'local' is unknown (expected global, per-layer or balanced)");
}

TEST(Selection, TheKindsUnderTestDifferInParametersPerNeuron) {
  const NeuronSpace space = mixed_space();
  EXPECT_EQ(space.params_per_neuron(NeuronKind::Ffn), 96);
  EXPECT_EQ(space.params_per_neuron(NeuronKind::QO), 64);
  EXPECT_EQ(space.total_neurons(), 3 * (48 + 32));
}

TEST(Selection, GlobalTakesExactlyTheTopByScoreThenIdForEveryBudgetUnit) {
  const NeuronSpace space = mixed_space();
  const LocalScores s = scores_of(space);
  const int64_t model_params = space.config().parameter_count();
  struct Case {
    std::string budget;
    int64_t neurons, params;
  };
  const std::vector<Case> cases = {
      {"1", 1, kAny},
      {"37", 37, kAny},
      {"240", 240, kAny},
      {"10%", 24, kAny},  // round(0.1 x 240)
      {"2.5%", 6, kAny},  // round(6.0)
      {"100%", 240, kAny},
      {"5%params", kAny, int64_t(std::floor(0.05 * double(model_params)))},
      {"0.7%params", kAny, int64_t(std::floor(0.007 * double(model_params)))},
      {"lora:1", kAny, space.lora_params(1)},
      {"lora:4", kAny, space.lora_params(4)},
  };
  for (const Case& c : cases) {
    const Selection sel = select(space, s, c.budget);
    const std::vector<NeuronId> want = reference(space, s.ids, s, c.neurons, c.params);
    EXPECT_EQ(sel.ids, want) << c.budget;
    EXPECT_EQ(sel.total_neurons, int64_t(want.size())) << c.budget;
    EXPECT_EQ(sel.total_params, space.params_of(want)) << c.budget;
    ASSERT_EQ(sel.scores.size(), sel.ids.size());
    for (size_t i = 0; i < sel.ids.size(); ++i) EXPECT_EQ(sel.scores[i], score_of(sel.ids[i]));
    EXPECT_DOUBLE_EQ(sel.score_retained, sum_of(sel.scores)) << c.budget;
    EXPECT_EQ(sel.score_global, sel.score_retained) << c.budget;
  }
}

TEST(Selection, AParameterBudgetIsThePrefixOfTheOrderNotABestFit) {
  // Allowances from about one neuron to the whole space, in steps of 544 parameters: the
  // selection stops at the first neuron that does not fit even when a smaller one later would.
  const NeuronSpace space = mixed_space();
  const LocalScores s = scores_of(space);
  const double model_params = double(space.config().parameter_count());
  for (int64_t p = 100; p <= space.total_params(); p += 32 * 17) {
    Budget b{Budget::Unit::ParamFraction, double(p) / model_params};
    const int64_t allowed = int64_t(std::floor(b.value * model_params));
    const Selection sel = select_neurons(space, s, b, Scope::Global, {});
    EXPECT_EQ(sel.ids, reference(space, s.ids, s, kAny, allowed)) << p;
    EXPECT_LE(sel.total_params, allowed);
  }
}

TEST(Selection, TiesBreakByAscendingId) {
  const NeuronSpace space = mixed_space();
  const LocalScores same = scores_of(space, [](NeuronId) { return 0.5f; });
  const Selection sel = select(space, same, "50");
  EXPECT_EQ(sel.ids, std::vector<NeuronId>(same.ids.begin(), same.ids.begin() + 50));
  // -0 and +0 are one score.
  const LocalScores zeros =
      scores_of(space, [](NeuronId id) { return id_index(id) % 2 ? -0.0f : 0.0f; });
  EXPECT_EQ(select(space, zeros, "7").ids,
            std::vector<NeuronId>(zeros.ids.begin(), zeros.ids.begin() + 7));
}

TEST(Selection, AnyFiniteOrInfiniteScoreOrdersAsAFloat) {
  const NeuronSpace space = mixed_space();
  const float specials[] = {-std::numeric_limits<float>::infinity(),
                            -3e38f,
                            -1.0f,
                            -std::numeric_limits<float>::denorm_min(),
                            0.0f,
                            std::numeric_limits<float>::denorm_min(),
                            1e-30f,
                            1.0f,
                            3e38f,
                            std::numeric_limits<float>::infinity()};
  LocalScores s = scores_of(space);
  for (size_t i = 0; i < s.ids.size(); ++i) s.values[i] = specials[(i * 7) % 10];
  for (const char* budget : {"1", "24", "25", "48", "120", "239"})
    EXPECT_EQ(select(space, s, budget).ids, reference(space, s.ids, s, std::stoll(budget), kAny))
        << budget;
}

TEST(Selection, PerLayerGivesEachLayerItsShareAndRanksWithinIt) {
  const NeuronSpace space = mixed_space();
  const LocalScores s = scores_of(space);
  // 3 layers of equal parameters: shares of n are floor(n (l+1) / 3) - floor(n l / 3).
  for (int64_t n : {1, 2, 10, 31, 100, 240}) {
    const Selection sel = select(space, s, std::to_string(n), Scope::PerLayer);
    std::vector<NeuronId> want;
    for (int64_t l = 0; l < 3; ++l) {
      std::vector<NeuronId> layer;
      for (NeuronId id : s.ids)
        if (id_layer(id) == l) layer.push_back(id);
      const int64_t share = n * (l + 1) / 3 - n * l / 3;
      const std::vector<NeuronId> top = reference(space, layer, s, share, kAny);
      want.insert(want.end(), top.begin(), top.end());
    }
    EXPECT_EQ(sel.ids, want) << n;
    EXPECT_EQ(sel.total_neurons, n);
    EXPECT_DOUBLE_EQ(sel.score_retained, sum_of(sel.scores));
    EXPECT_GE(sel.score_global, sel.score_retained) << n;
    EXPECT_DOUBLE_EQ(sel.score_global, select(space, s, std::to_string(n)).score_retained);
  }
  // A parameter budget: each layer holds at most its third of the allowance.
  const Selection p = select(space, s, "lora:2", Scope::PerLayer);
  const int64_t allowed = space.lora_params(2);
  std::vector<NeuronId> want;
  for (int64_t l = 0; l < 3; ++l) {
    std::vector<NeuronId> layer;
    for (NeuronId id : s.ids)
      if (id_layer(id) == l) layer.push_back(id);
    const std::vector<NeuronId> top =
        reference(space, layer, s, kAny, allowed * (l + 1) / 3 - allowed * l / 3);
    want.insert(want.end(), top.begin(), top.end());
  }
  EXPECT_EQ(p.ids, want);
  EXPECT_GE(p.score_global, p.score_retained);
}

TEST(Selection, BalancedOnOneRankIsTheGlobalSelection) {
  // One (tp rank, pp stage) cell owns everything; cells at other layouts are tested under
  // mpirun.
  const NeuronSpace space = mixed_space();
  const LocalScores s = scores_of(space);
  for (const char* budget : {"17", "10%", "3%params", "lora:2"}) {
    const Selection b = select(space, s, budget, Scope::Balanced);
    const Selection g = select(space, s, budget);
    EXPECT_EQ(b.ids, g.ids) << budget;
    EXPECT_EQ(b.score_global, g.score_retained) << budget;
  }
}

TEST(Selection, BudgetsAboveTheSpaceAndBudgetsThatSelectNothingAreOneLineErrors) {
  const NeuronSpace space = mixed_space();
  const LocalScores s = scores_of(space);
  EXPECT_EQ(error_of([&] { select(space, s, "241"); }),
            "budget 241 neurons: the model has 240 ffn,qo neurons");
  const NeuronSpace ffn(config(), NeuronKinds::parse("ffn"));
  const LocalScores fs = scores_of(ffn);
  EXPECT_EQ(error_of([&] { select(ffn, fs, "99%params"); }),
            "budget 99%params (" +
                std::to_string(int64_t(0.99 * double(config().parameter_count()))) +
                " parameters): the model's ffn neurons hold " + std::to_string(ffn.total_params()) +
                " parameters");
  EXPECT_EQ(error_of([&] { select(ffn, fs, "lora:100"); }),
            "budget lora:100 (" + std::to_string(ffn.lora_params(100)) +
                " parameters): the model's ffn neurons hold " + std::to_string(ffn.total_params()) +
                " parameters");
  EXPECT_EQ(error_of([&] { select(ffn, fs, "lora:99999999999999999999"); }),
            "budget lora:1e+20: the model's ffn neurons hold " +
                std::to_string(ffn.total_params()) + " parameters");
  for (Scope scope : {Scope::Global, Scope::PerLayer, Scope::Balanced}) {
    EXPECT_EQ(error_of([&] { select(ffn, fs, "0", scope); }),
              "budget 0 selects no neuron: the model has 144 ffn neurons");
    EXPECT_EQ(error_of([&] { select(ffn, fs, "0.1%", scope); }),
              "budget 0.1% selects no neuron: the model has 144 ffn neurons");
    EXPECT_EQ(error_of([&] { select(ffn, fs, "0.1%params", scope); }),
              "budget 0.1%params selects no neuron: one ffn neuron has 64 parameters");
    EXPECT_EQ(error_of([&] { select(space, s, "0.1%params", scope); }),
              "budget 0.1%params selects no neuron: one ffn neuron has 96 parameters, one qo "
              "neuron has 64 parameters");
  }
}

TEST(Selection, ScoresOfOtherNeuronsAndNaNScoresAreErrors) {
  const NeuronSpace space = mixed_space();
  LocalScores s = scores_of(space);
  s.ids.pop_back();
  s.values.pop_back();
  EXPECT_NE(error_of([&] { select(space, s, "10"); }).find("check"), std::string::npos);
  LocalScores nan = scores_of(space);
  nan.values[5] = std::nanf("");
  EXPECT_EQ(error_of([&] { select(space, nan, "10"); }),
            "selection: the score of " + id_str(nan.ids[5]) + " is NaN");
}

}  // namespace
}  // namespace neft::neuron
