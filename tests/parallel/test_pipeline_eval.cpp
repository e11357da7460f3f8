// Evaluation inside a pipeline-parallel training run: `neft train --pp 2 --eval-every 2` (and
// tp 2 x pp 2 on four ranks) streams each evaluation's batches through the stages forward
// only (parallel::run_forward_only), and its evaluation records in metrics.jsonl match those
// of the single-rank run over the same global batch, evaluated after the same steps.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/synthetic.h"
#include "helpers.h"
#include "launch/options.h"
#include "train/evaluate.h"
#include "train/model_setup.h"
#include "train_run_helpers.h"

namespace neft::launch {
namespace {

using namespace testing;

constexpr int kSteps = 4, kEvalEvery = 2;

class PipelineEval : public ::testing::TestWithParam<Layout> {};

TEST_P(PipelineEval, InLoopEvaluationsMatchTheSingleRankRun) {
  const Layout layout = GetParam();
  if (!layout.fits())
    GTEST_SKIP() << layout.name() << " on " << world_size() << " ranks is not a layout tested here";
  SharedTempDir dir;
  const std::string out = dir.file("run");
  const std::vector<std::string> args = layout_train_args(
      out, layout, kSteps, {"--eval-examples", "4", "--eval-every", std::to_string(kEvalEvery)});
  neft(args);
  if (world_rank() != 0) return;

  const TrainOptions o = options_of(args);
  const data::SyntheticSuite suite(o.task_list(), o.seed);
  std::map<int64_t, std::vector<train::TaskScore>> want;
  // A hook that changes nothing: the run without its shadow runs (no AdamBound needed here).
  const neft::testing::GradientHook unchanged = [](const ParameterList&, int64_t) {};
  train_single_rank(
      o,
      [&] {
        return train::build_model({o.model, o.init}, {}, o.seed);
      },
      unchanged,
      [&](int64_t step, model::LlamaModel& m) {
        if (step % kEvalEvery == 0)
          want[step] =
              train::evaluate_synthetic(m, suite, o.eval_examples, o.micro_batch, o.seq_len);
      });
  std::map<int64_t, nlohmann::json> got;
  for (const nlohmann::json& r : records(out))
    if (r.contains("eval")) got[r["step"].get<int64_t>()] = r["eval"];
  ASSERT_EQ(want.size(), size_t(kSteps / kEvalEvery));
  for (const auto& [step, scores] : want) {
    ASSERT_TRUE(got.count(step)) << layout.name() << ": no evaluation record at step " << step;
    for (const train::TaskScore& s : scores) {
      const std::string what = layout.name() + " step " + std::to_string(step) + " " + s.task;
      // The stages' forwards are the one-rank model's ops on the same tokens, so the scores
      // differ only as the weights do: by the rounding of the layout's gradient sums (the
      // gradient norm summed over stages, tp's partial sums), the bound the final evaluation
      // of tests/parallel/test_train_layouts.cpp holds too.
      EXPECT_NEAR(got[step][s.task]["loss"].get<double>(), s.loss, 1e-5 * s.loss) << what;
      EXPECT_EQ(got[step][s.task]["accuracy"].get<double>(), s.accuracy) << what;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, PipelineEval, ::testing::Values(Layout{1, 2}, Layout{2, 2}),
                         [](const auto& info) { return info.param.name(); });

}  // namespace
}  // namespace neft::launch
