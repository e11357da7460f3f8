// Deactivation at tensor, pipeline and data-parallel layouts against one rank: with the same
// neurons zeroed (every kind, on every stage and tp rank), the step's loss and each rank's
// weight-gradient scores equal the single-rank model's within fp32 tolerance, and differ from
// the model without deactivation.
#include <gtest/gtest.h>

#include <mpi.h>

#include <algorithm>
#include <cmath>

#include "model/llama.h"
#include "neuron/deactivation.h"
#include "neuron/scores.h"
#include "parallel/process_groups.h"
#include "tests/parallel/helpers.h"
#include "tests/unit/model/random_batches.h"
#include "tests/unit/model/small_config.h"
#include "train/train_step.h"

namespace neft::neuron {
namespace {

using parallel::testing::ModelLayout;
class DeactivationLayouts : public ::testing::TestWithParam<ModelLayout> {};

TEST_P(DeactivationLayouts, MatchOneRank) {
  const ModelLayout& k = GetParam();
  if (!parallel::testing::layout_fits(k)) GTEST_SKIP() << "tp x pp does not divide the ranks";
  auto groups = parallel::make_process_groups(k.tp, k.pp, parallel::Backend::MPI, 60.0);
  const model::LlamaConfig c = testing::small_llama_config(false);
  const NeuronKinds kinds = NeuronKinds::parse("all");
  const NeuronSpace single_space(c, kinds), space(c, kinds, k.tp, k.pp);

  model::LlamaModel single(c);
  model::LlamaModel sharded(c, parallel::testing::shard_options(groups));
  single.init_random(11, 0.2f);
  sharded.init_random(11, 0.2f);

  const std::vector<data::Batch> all = ::neft::testing::random_batches(c, 4, 17);
  const std::vector<data::Batch> mine = parallel::testing::replica_share(all, groups);
  const train::StepGroups step_groups{groups.dp.get(), groups.pp.get()};

  // A tenth of every layer's neurons of every kind, the same set on every rank.
  std::vector<NeuronId> ids;
  for (int64_t l = 0; l < c.layers; ++l)
    for (NeuronKind kind : kinds.list())
      for (int64_t i = l; i < single_space.units(kind); i += 10) ids.push_back(make_id(l, kind, i));
  std::sort(ids.begin(), ids.end());

  const double plain = train::forward_backward(single, all).loss;
  Deactivation off_single(single, single_space, ids), off_sharded(sharded, space, ids);
  const double want = train::forward_backward(single, all).loss;
  const double got = train::forward_backward(sharded, mine, step_groups).loss;
  EXPECT_NEAR(got, want, 1e-5 * std::abs(want)) << "rank " << groups.rank;
  EXPECT_GT(std::abs(want - plain), 1e-3 * std::abs(plain));

  // The gradients through the zeroed units: each rank's wgrad scores against one rank's.
  const LocalScores ref =
      score_wgrad(single_space, single, [&] { train::forward_backward(single, all); });
  const LocalScores mine_scores =
      score_wgrad(space, sharded, [&] { train::forward_backward(sharded, mine, step_groups); });
  double largest = 0;
  for (float v : ref.values) largest = std::max(largest, double(v));
  for (size_t i = 0; i < mine_scores.ids.size(); ++i) {
    const auto at = std::lower_bound(ref.ids.begin(), ref.ids.end(), mine_scores.ids[i]);
    ASSERT_TRUE(at != ref.ids.end() && *at == mine_scores.ids[i]);
    EXPECT_NEAR(mine_scores.values[i], ref.values[size_t(at - ref.ids.begin())], 1e-4 * largest)
        << id_str(mine_scores.ids[i]) << " on rank " << groups.rank;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, DeactivationLayouts, parallel::testing::model_layouts(),
                         parallel::testing::layout_name);

}  // namespace
}  // namespace neft::neuron
