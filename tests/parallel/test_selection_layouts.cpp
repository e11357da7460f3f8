// Selection at tp 2, pp 2 and tp 2 x pp 2 (with the data-parallel replicas the world leaves):
// each rank holds only the scores of the neurons it owns, and the selection, found with small
// all-reduces, is exactly the one a single rank makes holding every score. Global and
// per-layer selections equal the single-rank ones; a balanced one equals each (tp rank, pp
// stage) cell's own top of its share. Every rank's part is the selection's neurons it owns,
// gather_to_first brings the whole list to the first rank, and the totals are the same at
// every layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "helpers.h"
#include "neuron/neuron_set.h"
#include "neuron/selection.h"
#include "parallel/process_groups.h"

namespace neft::neuron {
namespace {

using parallel::testing::world_size;

// 3 layers (2 + 1 over two stages: unequal cells), sizes tp 2 divides; with the gate an ffn
// neuron holds 96 parameters, a qo or kv neuron 64.
model::LlamaConfig config() {
  model::LlamaConfig c;
  c.name = "test";
  c.hidden = 32;
  c.intermediate = 48;
  c.layers = 3;
  c.heads = 4;
  c.kv_heads = 2;
  c.head_dim = 8;
  c.vocab = 24;
  c.max_positions = 64;
  return c;
}

const NeuronKinds kKinds = NeuronKinds::parse("all", true);

// A function of the global id alone, so every layout sees the same scores; few distinct
// values (ties) and dyadic ones (sums exact in any order).
float score_of(NeuronId id) {
  return float((id_index(id) * 37 + id_layer(id) * 11 + int64_t(id_kind(id)) * 5) % 13) * 0.25f -
         1.5f;
}

LocalScores scores_for(const std::vector<NeuronId>& ids) {
  LocalScores s;
  s.ids = ids;
  for (NeuronId id : ids) s.values.push_back(score_of(id));
  return s;
}

constexpr int64_t kAny = std::numeric_limits<int64_t>::max();

// The longest prefix of (score descending, id ascending) among `ids` within the limits.
std::vector<NeuronId> top(const NeuronSpace& space, std::vector<NeuronId> ids, int64_t max_neurons,
                          int64_t max_params) {
  std::sort(ids.begin(), ids.end(), [](NeuronId a, NeuronId b) {
    return score_of(a) != score_of(b) ? score_of(a) > score_of(b) : a < b;
  });
  std::vector<NeuronId> out;
  int64_t params = 0;
  for (NeuronId id : ids) {
    if (int64_t(out.size()) + 1 > max_neurons || params + space.params_of(id) > max_params) break;
    out.push_back(id);
    params += space.params_of(id);
  }
  return out;
}

// A balanced selection at the space's layout: cell (tp t, stage s), in (s, t) order, gets the
// cumulative-floor share of the allowance proportional to the parameters it owns.
std::vector<NeuronId> balanced_reference(const NeuronSpace& space, const Budget& b) {
  int64_t n = kAny, p = kAny;
  const double f = b.value;
  switch (b.unit) {
    case Budget::Unit::Neurons:
      n = int64_t(f);
      break;
    case Budget::Unit::NeuronFraction:
      n = std::llround(f * double(space.total_neurons()));
      break;
    case Budget::Unit::ParamFraction:
      p = int64_t(std::floor(f * double(space.config().parameter_count())));
      break;
    case Budget::Unit::LoraRank:
      p = space.lora_params(int64_t(f));
      break;
  }
  auto part = [&](int64_t x, int64_t before, int64_t size) {
    using I = __int128;
    const I whole = space.total_params();
    return x == kAny ? kAny : int64_t(I(x) * (before + size) / whole - I(x) * before / whole);
  };
  std::vector<NeuronId> out;
  int64_t before = 0;
  for (int s = 0; s < space.pp(); ++s)
    for (int t = 0; t < space.tp(); ++t) {
      const std::vector<NeuronId> owned = space.owned(t, s);
      const int64_t size = space.params_of(owned);
      const std::vector<NeuronId> mine =
          top(space, owned, part(n, before, size), part(p, before, size));
      out.insert(out.end(), mine.begin(), mine.end());
      before += size;
    }
  std::sort(out.begin(), out.end());
  return out;
}

struct ModelLayout {
  int tp, pp;
};

TEST(SelectionLayouts, EveryScopeSelectsTheSingleRankNeuronsAtEveryLayout) {
  const NeuronSpace one(config(), kKinds);
  const LocalScores all = scores_for(one.owned(0, 0));
  int layouts = 0;
  for (const ModelLayout l : {ModelLayout{2, 1}, ModelLayout{1, 2}, ModelLayout{2, 2}}) {
    if (world_size() % (l.tp * l.pp) != 0) continue;
    ++layouts;
    parallel::ProcessGroups g = parallel::make_process_groups(l.tp, l.pp, parallel::Backend::MPI);
    const NeuronSpace space(config(), kKinds, l.tp, l.pp);
    const std::vector<NeuronId> owned = space.owned(g.coords.tp, g.coords.pp);
    const LocalScores mine = scores_for(owned);
    const SelectionGroups groups{g.tp.get(), g.pp.get()};
    const bool first = g.coords.tp == 0 && g.coords.pp == 0;
    for (const char* text : {"1", "50", "10%", "100%", "5%params", "lora:1", "lora:3"})
      for (Scope scope : {Scope::Global, Scope::PerLayer, Scope::Balanced}) {
        const std::string what = std::string(text) + " " + scope_name(scope) + " at tp " +
                                 std::to_string(l.tp) + " pp " + std::to_string(l.pp);
        const Budget budget = Budget::parse(text);
        const Selection sel = select_neurons(space, mine, budget, scope, groups);
        const Selection single = select_neurons(one, all, budget, scope, {});
        const Selection global = select_neurons(one, all, budget, Scope::Global, {});
        const std::vector<NeuronId> want =
            scope == Scope::Balanced ? balanced_reference(space, budget) : single.ids;

        // This rank's part: the selected neurons it owns, with their scores.
        std::vector<NeuronId> mine_want;
        for (NeuronId id : want)
          if (std::binary_search(owned.begin(), owned.end(), id)) mine_want.push_back(id);
        EXPECT_EQ(sel.ids, mine_want) << what;
        ASSERT_EQ(sel.scores.size(), sel.ids.size()) << what;
        for (size_t i = 0; i < sel.ids.size(); ++i)
          EXPECT_EQ(sel.scores[i], score_of(sel.ids[i])) << what;

        const auto [ids, scores] = gather_to_first(sel.ids, sel.scores, groups);
        if (first) {
          EXPECT_EQ(ids, want) << what;
          ASSERT_EQ(scores.size(), ids.size()) << what;
          for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(scores[i], score_of(ids[i])) << what;
        } else {
          EXPECT_TRUE(ids.empty() && scores.empty()) << what;
        }

        EXPECT_EQ(sel.total_neurons, int64_t(want.size())) << what;
        EXPECT_EQ(sel.total_params, one.params_of(want)) << what;
        double retained = 0;
        for (NeuronId id : want) retained += score_of(id);
        EXPECT_EQ(sel.score_retained, retained) << what;
        EXPECT_EQ(sel.score_global, global.score_retained) << what;
        EXPECT_GE(sel.score_global, sel.score_retained) << what;
        if (scope != Scope::Balanced) {
          EXPECT_EQ(sel.score_retained, single.score_retained) << what;
        }
      }
  }
  if (layouts == 0) GTEST_SKIP() << "no tp 2 or pp 2 layout fits a world of " << world_size();
}

TEST(SelectionLayouts, BalancedCellsTakeTheirOwnTopWhereGlobalWouldNot) {
  // With scores rising with the layer, a global selection of one third of the neurons takes the
  // last layer only, while a balanced one at pp 2 gives the first stage (2 of 3 layers) two
  // thirds of the allowance: the balanced selection retains less.
  if (world_size() % 2 != 0) GTEST_SKIP();
  parallel::ProcessGroups g = parallel::make_process_groups(1, 2, parallel::Backend::MPI);
  const NeuronSpace space(config(), kKinds, 1, 2);
  LocalScores mine;
  mine.ids = space.owned(0, g.coords.pp);
  for (NeuronId id : mine.ids) mine.values.push_back(float(id_layer(id)));
  const Selection sel = select_neurons(space, mine, Budget::parse("lora:2"), Scope::Balanced,
                                       {g.tp.get(), g.pp.get()});
  const Selection global =
      select_neurons(space, mine, Budget::parse("lora:2"), Scope::Global, {g.tp.get(), g.pp.get()});
  EXPECT_LT(sel.score_retained, sel.score_global);
  EXPECT_EQ(sel.score_global, global.score_retained);
  EXPECT_EQ(sel.total_params <= space.lora_params(2), true);
  EXPECT_EQ(global.total_params <= space.lora_params(2), true);
  if (g.coords.pp == 0) {
    EXPECT_FALSE(sel.ids.empty());
    EXPECT_TRUE(global.ids.empty());
  }
}

}  // namespace
}  // namespace neft::neuron
