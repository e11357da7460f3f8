// The scorers at tensor, pipeline and data-parallel layouts against one rank: each rank's
// scores (magnitude, random, cosine, attribution under both rules, wgrad) are the single-rank
// model's scores of the same neurons, within fp32 tolerance. Every rank computes the
// single-rank reference itself (a tiny model), over the whole global batch; data-parallel
// rank r passes micro-batches r, r + dp, ... of it.
#include <gtest/gtest.h>

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "data/batch.h"
#include "model/llama.h"
#include "neuron/neuron_space.h"
#include "neuron/scores.h"
#include "parallel/process_groups.h"
#include "tests/parallel/helpers.h"
#include "tests/unit/model/random_batches.h"
#include "tests/unit/model/small_config.h"
#include "train/train_step.h"

namespace neft::neuron {
namespace {

constexpr int kGlobalMicroBatches = 4;  // split over dp 1, 2 or 4

std::vector<data::Batch> global_batches(const model::LlamaConfig& c) {
  return ::neft::testing::random_batches(c, kGlobalMicroBatches, 17);
}

using parallel::testing::ModelLayout;
class ScoresLayouts : public ::testing::TestWithParam<ModelLayout> {};

// Every scorer at this layout, each against the single-rank scores of the same neurons.
TEST_P(ScoresLayouts, MatchTheSingleRankScores) {
  const ModelLayout& k = GetParam();
  if (!parallel::testing::layout_fits(k)) GTEST_SKIP() << "tp x pp does not divide the ranks";
  auto groups = parallel::make_process_groups(k.tp, k.pp, parallel::Backend::MPI, 60.0);
  const model::LlamaConfig c = testing::small_llama_config(false);
  const NeuronKinds kinds = NeuronKinds::parse("all", true);
  const NeuronSpace single_space(c, kinds), space(c, kinds, k.tp, k.pp);

  model::LlamaModel single(c);
  model::LlamaModel sharded(c, parallel::testing::shard_options(groups));

  const std::vector<data::Batch> all = global_batches(c);
  const std::vector<data::Batch> mine = parallel::testing::replica_share(all, groups);
  const train::StepGroups step_groups{groups.dp.get(), groups.pp.get()};
  auto pass_single = [&] { train::forward_backward(single, all); };
  auto pass_sharded = [&] { train::forward_backward(sharded, mine, step_groups); };

  // Each of this rank's scores against the single-rank one of the same neuron.
  auto expect_same = [&](const LocalScores& got, const LocalScores& want, const char* what,
                         double rel) {
    ASSERT_EQ(got.ids, space.owned(groups.coords.tp, groups.coords.pp)) << what;
    ASSERT_EQ(got.values.size(), got.ids.size()) << what;
    double largest = 0;
    for (float v : want.values) largest = std::max(largest, double(std::abs(v)));
    for (size_t i = 0; i < got.ids.size(); ++i) {
      const auto at = std::lower_bound(want.ids.begin(), want.ids.end(), got.ids[i]);
      ASSERT_TRUE(at != want.ids.end() && *at == got.ids[i]) << what;
      const float ref = want.values[size_t(at - want.ids.begin())];
      EXPECT_NEAR(got.values[i], ref, rel * largest)
          << what << " " << id_str(got.ids[i]) << " on rank " << groups.rank;
    }
  };

  single.init_random(11, 0.2f);
  sharded.init_random(11, 0.2f);
  expect_same(score_magnitude(space, sharded), score_magnitude(single_space, single), "magnitude",
              1e-6);
  expect_same(score_random(space, sharded, 3), score_random(single_space, single, 3), "random",
              0.0);

  // Cosine between two initialisations, both layout-independent.
  const WeightSnapshot base_single = snapshot_weights(single, single_space),
                       base_sharded = snapshot_weights(sharded, space);
  single.init_random(12, 0.2f);
  sharded.init_random(12, 0.2f);
  expect_same(
      score_cosine(space, sharded, base_sharded, snapshot_weights(sharded, space)),
      score_cosine(single_space, single, base_single, snapshot_weights(single, single_space)),
      "cosine", 1e-5);
  restore_weights(single, base_single);
  restore_weights(sharded, base_sharded);

  for (AttributionRule r : {AttributionRule::TokenAbs, AttributionRule::AbsTotal})
    expect_same(score_attribution(space, sharded, r, pass_sharded, groups.dp.get()),
                score_attribution(single_space, single, r, pass_single, nullptr),
                attribution_rule_name(r), 1e-4);
  expect_same(score_wgrad(space, sharded, pass_sharded),
              score_wgrad(single_space, single, pass_single), "wgrad", 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Layouts, ScoresLayouts, parallel::testing::model_layouts(),
                         parallel::testing::layout_name);

}  // namespace
}  // namespace neft::neuron
