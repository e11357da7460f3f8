// Generation at tp 2 (the KV cache holds each rank's kv heads, the logits each rank's
// vocabulary) against the same model whole on one rank: the same tokens greedy and sampled,
// on every rank.
#include <gtest/gtest.h>

#include <mpi.h>

#include "parallel/process_groups.h"
#include "tests/unit/model/golden_fixture.h"
#include "train/generation.h"
#include "train/model_setup.h"

namespace neft {
namespace {

TEST(GenerationLayouts, TensorParallelGeneratesWhatOneRankDoes) {
  int world = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != 2) GTEST_SKIP() << "layout for 2 ranks";
  auto groups = parallel::make_process_groups(2, 1, parallel::Backend::MPI, 60.0);
  model::ModelOptions o;
  o.tp = {groups.tp.get(), groups.tp->rank(), groups.tp->size()};
  const std::string dir = testing::fixture_dir("gqa_untied");
  auto sharded = train::build_model({dir, ""}, o, 0);
  auto whole = train::build_model({dir, ""}, {}, 0);
  const std::vector<std::vector<int32_t>> prompts = {{1, 5, 9}, {7}, {3, 3, 8, 2, 11, 4}};
  for (double temperature : {0.0, 0.8}) {
    train::GenerationOptions g;
    g.max_new_tokens = 10;
    g.batch = 2;
    g.sampling.temperature = temperature;
    g.sampling.seed = 3;
    const auto a = train::generate(*sharded, prompts, g);
    const auto b = train::generate(*whole, prompts, g);
    for (size_t p = 0; p < prompts.size(); ++p)
      EXPECT_EQ(a[p].ids, b[p].ids) << "prompt " << p << " temperature " << temperature;
  }
}

}  // namespace
}  // namespace neft
