// `neft train --neurons` under mpirun: at tp 2, pp 2 and dp = world (and their products on
// four ranks) neuron-level training gives the losses and the updated rows of single-rank
// neuron-level training, also when the selection leaves the lower layers (and at pp 2 the
// whole first stage) out of backward; every weight outside the selected rows is bit-identical to
// the base on every layout; each rank's training state is exactly its own selected rows (master,
// moments, gradient: 16 bytes a value); and a run checkpointed at tp 2 resumes at tp 1 with
// the losses of the uninterrupted run.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>

#include "data/batch_source.h"
#include "helpers.h"
#include "model/safetensors.h"
#include "neuron/neuron_set.h"
#include "neuron/trainable.h"
#include "train/model_setup.h"
#include "train/train_step.h"
#include "train_run_helpers.h"

namespace neft::launch {
namespace {

using namespace testing;
using neuron::NeuronId;

constexpr int kSteps = 6;

std::vector<std::string> train_args(const std::string& out, const std::string& neurons,
                                    Layout layout) {
  return layout_train_args(out, layout, kSteps, {"--neurons", neurons, "--eval-every", "0"});
}

// Every 7th neuron of every kind (gate joining the ffn neurons) from layer `lowest` up: every
// layer (lowest 0), both halves of every tensor-parallel split, rows and columns. Above layer
// 0 the blocks below run no backward (LlamaModel::backward_floor): at pp 2, lowest 1 leaves
// out layer 0's on the first stage, lowest 3 the whole first stage's and the gradient sent
// to it.
neuron::NeuronSpace test_space(const model::LlamaConfig& c, int tp = 1, int pp = 1) {
  return neuron::NeuronSpace(c, neuron::NeuronKinds::parse("all", /*ffn_gate=*/true), tp, pp);
}
std::vector<NeuronId> test_selection(const neuron::NeuronSpace& space, int64_t lowest) {
  std::vector<NeuronId> ids;
  const std::vector<NeuronId> all = space.owned(0, 0);
  for (size_t i = 0; i < all.size(); i += 7)
    if (neuron::id_layer(all[i]) >= lowest) ids.push_back(all[i]);
  return ids;
}

std::string write_neuron_file(const SharedTempDir& dir, const model::LlamaConfig& c,
                              int64_t lowest) {
  const std::string path = dir.file("neurons.safetensors");
  if (world_rank() == 0) {
    const neuron::NeuronSpace space = test_space(c);
    std::vector<NeuronId> ids = test_selection(space, lowest);
    std::vector<float> scores(ids.size(), 1.0f);
    neuron::save_neuron_set(path, neuron::make_neuron_set(space, ids, scores, "test", "test", ""));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return path;
}

// Single-rank neuron-level training on the whole global batch (train_run_helpers.h).
SingleRankRun train_reference(const TrainOptions& o, int64_t lowest) {
  return train_single_rank(o, [&] {
    auto m = train::build_model({o.model, o.init}, {}, o.seed);
    const neuron::NeuronSpace space = test_space(m->config());
    neuron::train_only(*m, space, test_selection(space, lowest));
    return m;
  });
}

void expect_single_rank_run(const Layout& layout, int64_t lowest) {
  SharedTempDir dir;
  const model::LlamaConfig config = model::resolve_config("tiny");
  const std::string neurons = write_neuron_file(dir, config, lowest);
  const std::string out = dir.file("run");
  const std::vector<std::string> args = train_args(out, neurons, layout);
  neft(args);
  if (world_rank() != 0) return;

  const TrainOptions o = options_of(args);
  const SingleRankRun ref = train_reference(o, lowest);
  expect_same_losses(losses(out), ref.losses, layout.name());

  // Selected rows match the reference; everything else is the base, bit for bit.
  const auto base = train::build_model({o.model, ""}, {}, o.seed);
  const model::Checkpoint saved(out + "/model");
  const neuron::NeuronSpace space = test_space(config);
  std::set<std::pair<std::string, int64_t>> trained;  // (parameter, row * 2 + axis)
  for (NeuronId id : test_selection(space, lowest))
    for (const neuron::NeuronMatrix& m : space.matrices(neuron::id_kind(id)))
      trained.insert(
          {neuron::parameter_name(neuron::id_layer(id), m), neuron::id_index(id) * 2 + m.axis});
  // Selected entries within the element-wise bound of two AdamW runs whose gradients differ by
  // rounding (tests/adam_bound.h).
  double worst = 0;
  for (Parameter* p : base->parameters()) {
    const std::vector<float> got = saved.read(p->name, DType::F32).to_floats();
    const std::vector<float> before = p->value.to_floats();
    const Parameter& reference = ref.model->parameter(p->name);
    const std::vector<float> want = reference.value.to_floats();
    const std::vector<double> allowed = ref.bound->allowed(reference);
    const int64_t cols = p->value.dim() == 2 ? p->value.size(1) : p->value.numel();
    std::vector<float> got_selected, want_selected;
    std::vector<double> allowed_selected;
    for (size_t i = 0; i < got.size(); ++i) {
      const int64_t row = int64_t(i) / cols, col = int64_t(i) % cols;
      if (trained.count({p->name, row * 2}) || trained.count({p->name, col * 2 + 1})) {
        got_selected.push_back(got[i]);
        want_selected.push_back(want[i]);
        allowed_selected.push_back(allowed[i]);
      } else {
        ASSERT_EQ(got[i], before[i]) << p->name << "[" << i << "] is not a selected entry";
      }
    }
    worst =
        std::max(worst, neft::testing::expect_within(p->name + " (selected entries)", got_selected,
                                                     want_selected, allowed_selected));
  }
  std::printf("%s: largest difference / bound over the selected entries: %.3g\n",
              layout.name().c_str(), worst);

  // Each rank's training state: its selected neurons' values x (master, exp_avg, exp_avg_sq,
  // gradient) x 4 bytes, nothing else. Under the distributed optimizer each rank keeps the
  // gradient of all of them and master and moments of its share of their rows: over the dp
  // ranks of a (tp, pp) position the shares add up to the whole, once.
  const neuron::NeuronSpace at_layout = test_space(config, layout.tp, layout.pp);
  const std::vector<NeuronId> selected = test_selection(space, lowest);
  bool found = false;
  for (const nlohmann::json& r : records(out)) {
    if (!r.contains("ranks")) continue;
    found = true;
    std::map<std::pair<int, int>, int64_t> optimizer_bytes;  // summed over dp, by (tp, pp)
    std::map<std::pair<int, int>, int64_t> owned_at;
    for (const nlohmann::json& s : r["ranks"]) {
      int64_t owned = 0;
      for (NeuronId id : selected) {
        const neuron::NeuronOwner w = at_layout.owner(id);
        if (w.tp_rank == s["tp"].get<int>() && w.pp_stage == s["pp"].get<int>())
          owned += at_layout.params_of(id);
      }
      EXPECT_EQ(s["trained_parameters"].get<int64_t>(), owned) << s.dump();
      const std::pair<int, int> at{s["tp"].get<int>(), s["pp"].get<int>()};
      owned_at[at] = owned;
      optimizer_bytes[at] += s["state_bytes"].get<int64_t>() - owned * 4;
      if (!layout.distributed_optimizer) {
        EXPECT_EQ(s["state_bytes"].get<int64_t>(), owned * 16) << s.dump();
      }
    }
    for (const auto& [at, bytes] : optimizer_bytes)
      EXPECT_EQ(bytes, owned_at[at] * 12 * (layout.distributed_optimizer ? 1 : layout.dp()))
          << "tp " << at.first << " pp " << at.second;
  }
  EXPECT_TRUE(found) << "metrics.jsonl has no per-rank record";
}

class NeuronLayouts : public ::testing::TestWithParam<Layout> {};

TEST_P(NeuronLayouts, MatchTheSingleRankRunAndLeaveEveryOtherWeightBitIdentical) {
  const Layout layout = GetParam();
  if (world_size() < 2 || !layout.fits())
    GTEST_SKIP() << layout.name() << " on " << world_size() << " ranks is not a layout tested here";
  expect_single_rank_run(layout, 0);
}

TEST_P(NeuronLayouts, SelectionsAboveLayerZeroSkipTheBackwardBelowAndStillMatch) {
  const Layout layout = GetParam();
  if (world_size() < 2 || !layout.fits() || layout.distributed_optimizer)
    GTEST_SKIP() << layout.name() << " on " << world_size() << " ranks is not a layout tested here";
  for (int64_t lowest : {1, 3}) {
    SCOPED_TRACE("neurons from layer " + std::to_string(lowest));
    expect_single_rank_run(layout, lowest);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, NeuronLayouts,
                         ::testing::Values(Layout{1, 1}, Layout{2, 1}, Layout{1, 2}, Layout{2, 2},
                                           Layout{1, 1, true}, Layout{2, 1, true},
                                           Layout{1, 2, true}),
                         [](const auto& info) { return info.param.name(); });

// Stopped after 3 of 6 steps at tp 2, resumed at tp 1 (and the reverse; and from a state split
// over the dp ranks to tp 2, and the reverse): the optimizer state of the selected rows is
// keyed by neuron, so the losses are those of the uninterrupted run.
TEST(NeuronLayouts, ANeuronLevelRunResumesAtAnotherTensorParallelSize) {
  const Layout tp2{2, 1}, tp1{1, 1}, split{1, 1, true};
  if (world_size() < 2 || !tp2.fits()) GTEST_SKIP() << "needs tp 2";
  SharedTempDir dir;
  const std::string neurons = write_neuron_file(dir, model::resolve_config("tiny"), 0);
  const std::string whole = dir.file("whole");
  neft(train_args(whole, neurons, tp2));
  for (const auto& [first, second] :
       {std::pair{tp2, tp1}, std::pair{tp1, tp2}, std::pair{split, tp2}, std::pair{tp2, split}}) {
    const std::string out = dir.file("from-" + first.name() + "-to-" + second.name());
    neft(with(train_args(out, neurons, first), {"--stop-after", "3"}));
    neft(with(train_args(out, neurons, second), {"--resume"}));
    if (world_rank() == 0)
      expect_same_losses(losses(out), losses(whole), first.name() + " then " + second.name());
  }
}

}  // namespace
}  // namespace neft::launch
