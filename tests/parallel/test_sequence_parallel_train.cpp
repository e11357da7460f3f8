// `neft train --sequence-parallel` under mpirun against the same layout without it: tp 2 on two
// ranks, tp 2 x pp 2 and tp 2 x dp 2 on four. A neuron-level run (the norms frozen) logs the
// same losses and evaluation and ends with the same model, bit for bit (why:
// test_sequence_parallel.cpp). Full fine-tuning sums the norms' gradients in another order (each
// rank's tokens, then the group), so its losses match within the tolerance the layout tests hold
// every layout to, and its final weights lie within the element-wise AdamW bound of the
// single-rank run (tests/adam_bound.h) that the layout without it is held to
// (test_train_layouts.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "model/hf_checkpoint.h"
#include "neuron/neuron_set.h"
#include "train/model_setup.h"
#include "train_run_helpers.h"

namespace neft::launch {
namespace {

using namespace testing;

std::vector<std::string> train_args(const std::string& out, Layout layout) {
  return layout_train_args(out, layout, 4, {"--eval-examples", "2"});
}

// Every 3rd neuron of every kind, the gate joining the FFN's.
std::string write_neurons(const SharedTempDir& dir) {
  const std::string path = dir.file("neurons.safetensors");
  if (world_rank() == 0) {
    const neuron::NeuronSpace space(model::resolve_config("tiny"),
                                    neuron::NeuronKinds::parse("all", /*ffn_gate=*/true));
    std::vector<neuron::NeuronId> ids;
    const std::vector<neuron::NeuronId> all = space.owned(0, 0);
    for (size_t i = 0; i < all.size(); i += 3) ids.push_back(all[i]);
    neuron::save_neuron_set(
        path, neuron::make_neuron_set(space, ids, std::vector<float>(ids.size(), 1.0f), "test",
                                      "test", ""));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return path;
}

std::vector<nlohmann::json> evaluations(const std::string& out) {
  std::vector<nlohmann::json> e;
  for (const nlohmann::json& r : records(out))
    if (r.contains("eval")) e.push_back(r["eval"]);
  return e;
}

class SequenceParallelTrain : public ::testing::TestWithParam<Layout> {};

TEST_P(SequenceParallelTrain, NeuronLevelRunsAreTheRunWithoutIt) {
  const Layout layout = GetParam();
  if (!layout.fits() || layout.model_ranks() > world_size())
    GTEST_SKIP() << layout.name() << " on " << world_size() << " ranks is not a layout tested here";
  SharedTempDir dir;
  const std::vector<std::string> neurons = {"--neurons", write_neurons(dir)};
  const std::string plain = dir.file("plain"), split = dir.file("split");
  neft(with(train_args(plain, layout), neurons));
  neft(with(train_args(split, layout), with(neurons, {"--sequence-parallel"})));
  if (world_rank() != 0) return;
  EXPECT_EQ(losses(split), losses(plain));
  EXPECT_EQ(evaluations(split), evaluations(plain));
  const model::Checkpoint a(split + "/model"), b(plain + "/model");
  ASSERT_EQ(a.names(), b.names());
  for (const std::string& name : b.names())
    EXPECT_EQ(a.read(name, DType::F32).to_floats(), b.read(name, DType::F32).to_floats()) << name;
}

TEST_P(SequenceParallelTrain, FullFineTuningIsWithinTheLayoutsBoundOfOneRank) {
  const Layout layout = GetParam();
  if (!layout.fits() || layout.model_ranks() > world_size())
    GTEST_SKIP() << layout.name() << " on " << world_size() << " ranks is not a layout tested here";
  SharedTempDir dir;
  const std::string plain = dir.file("plain"), split = dir.file("split");
  neft(train_args(plain, layout));
  const std::vector<std::string> args = with(train_args(split, layout), {"--sequence-parallel"});
  neft(args);
  if (world_rank() != 0) return;
  // The layout tests' loss tolerance (train_run_helpers.h): rounding of other summation orders.
  expect_same_losses(losses(split), losses(plain), layout.name() + " with and without");

  const TrainOptions o = options_of(args);
  const SingleRankRun ref = train_single_rank(o, [&] {
    return train::build_model({o.model, o.init}, {}, o.seed);
  });
  expect_same_losses(losses(split), ref.losses, layout.name() + " against one rank");
  const model::Checkpoint saved(split + "/model");
  double worst = 0;
  for (Parameter* p : ref.model->parameters())
    worst = std::max(
        worst, neft::testing::expect_within(p->name, saved.read(p->name, DType::F32).to_floats(),
                                            p->value.to_floats(), ref.bound->allowed(*p)));
  std::printf("%s --sequence-parallel: largest difference / bound over the weights: %.3g\n",
              layout.name().c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(Layouts, SequenceParallelTrain,
                         ::testing::Values(Layout{2, 1}, Layout{2, 2}),
                         [](const auto& info) { return info.param.name(); });

}  // namespace
}  // namespace neft::launch
