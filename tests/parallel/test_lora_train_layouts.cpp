// `neft train --lora-rank 4 --lora-dropout 0.25` under mpirun at tp 2, pp 2 and dp = world (and
// their products on four and eight ranks): the losses of every step and the adapter in
// model/ equal those of the single-rank run of the same global batch, which rank 0 computes
// with the same building blocks (train_run_helpers.h) while the others wait. Each micro-batch
// draws its dropout masks by its place in the whole step (lora/lora_dropout.h), so the layouts
// train on the same masks as the single rank; were the masks keyed by a rank's own
// micro-batch count or its columns, dp or tp would train on others and miss by far.
#include <gtest/gtest.h>

#include "lora/lora.h"
#include "lora/peft_format.h"
#include "train/model_setup.h"
#include "train_run_helpers.h"

namespace neft::launch {
namespace {

using namespace testing;

std::vector<std::string> lora_args(const std::string& out, Layout layout) {
  return layout_train_args(out, layout, 4,
                           {"--eval-examples", "2", "--lora-rank", "4", "--lora-dropout", "0.25"});
}

class LoraTrainLayouts : public ::testing::TestWithParam<Layout> {};

TEST_P(LoraTrainLayouts, DropoutLossesAndAdapterMatchTheSingleRankRun) {
  const Layout layout = GetParam();
  if (!layout.fits())
    GTEST_SKIP() << layout.name() << " on " << world_size() << " ranks is not a layout tested here";
  SharedTempDir dir;
  const std::string out = dir.file("run");
  const std::vector<std::string> args = lora_args(out, layout);
  neft(args);
  if (world_rank() != 0) return;

  const TrainOptions o = options_of(args);
  // The run's model and adapters at dropout p, as `neft train` sets them up.
  auto setup = [&](double p) {
    return [&o, p] {
      auto m = train::build_model({o.model, o.init}, {}, o.seed);
      lora::attach_lora(*m, {o.lora_rank, o.lora_alpha, lora::parse_targets(o.lora_targets), p},
                        o.seed);
      return m;
    };
  };
  SingleRankRun ref = train_single_rank(o, setup(o.lora_dropout));
  expect_same_losses(losses(out), ref.losses, layout.name());
  // The run without dropout (a hook that changes nothing: no shadow runs for it).
  const SingleRankRun no_dropout =
      train_single_rank(o, setup(0), [](const ParameterList&, int64_t) {});

  // The adapter, whole in PEFT's file, within the bound of two AdamW runs whose gradients
  // differ by rounding (tests/adam_bound.h): the layout's shards sum in other orders.
  const lora::PeftAdapter saved = lora::load_peft_adapter(out + "/model");
  EXPECT_EQ(saved.config.dropout, 0.25);
  std::map<std::string, Parameter*> want;
  for (Parameter* p : lora::lora_parameters(*ref.model)) want[p->name] = p;
  ASSERT_EQ(saved.tensors.size(), want.size());
  double worst = 0;
  for (const auto& [name, t] : saved.tensors)
    worst = std::max(
        worst, neft::testing::expect_within(name, t.to_floats(), want.at(name)->value.to_floats(),
                                            ref.bound->allowed(*want.at(name))));
  // The masks are what matched: the run without them lies outside the bound.
  double apart = 0;
  for (Parameter* p : lora::lora_parameters(*no_dropout.model))
    apart = std::max(apart, neft::testing::check_within(p->value.to_floats(),
                                                        want.at(p->name)->value.to_floats(),
                                                        ref.bound->allowed(*want.at(p->name)))
                                .worst_ratio);
  EXPECT_GT(apart, 1.0);
  std::printf("%s: largest difference / bound over the adapter: %.3g (without dropout: %.3g)\n",
              layout.name().c_str(), worst, apart);
}

INSTANTIATE_TEST_SUITE_P(Layouts, LoraTrainLayouts,
                         ::testing::Values(Layout{1, 1}, Layout{2, 1}, Layout{1, 2}, Layout{2, 2}),
                         [](const auto& info) { return info.param.name(); });

}  // namespace
}  // namespace neft::launch
