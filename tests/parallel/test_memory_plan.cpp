// `neft plan`'s accounting against `neft train`'s measurements, at every layout the world
// allows (tp 1/2, pp 1/2, dp = the rest; at tp 2 with sequence parallelism too) and for full,
// neuron-level, LoRA (with dropout too) and recomputed training, and full and neuron-level
// under the distributed optimizer: on each rank, the bytes the planner says the step sends
// over the tensor-, data- and pipeline-parallel groups equal what the communicators counted
// (metrics.jsonl's "ranks" record), the weights, gradients, optimizer state and activation
// buffers equal what the model and the optimizer hold, and the planned peak is within 10% of
// the allocator's measured peak.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstdio>

#include "neuron/neuron_set.h"
#include "runtime/device.h"
#include "train/memory_plan.h"
#include "train_run_helpers.h"

namespace neft::launch {
namespace {

using namespace testing;

// A selection that loads the ranks and layers unevenly, of `kinds` (the gate joining ffn):
// layer l from `lowest` up takes every (l + 2)-th FFN unit, every 5th q/o unit and every 3rd
// k/v unit below half of each kind's units, so tp rank 0 holds most of it. Above layer 0 the
// blocks below run no backward, nor (lowest 3 at pp 2) the first stage.
std::string write_uneven_neurons(const SharedTempDir& dir, const model::LlamaConfig& c,
                                 const std::string& kinds = "all", int64_t lowest = 0) {
  const std::string path = dir.file("neurons-" + kinds + std::to_string(lowest) + ".safetensors");
  if (world_rank() == 0) {
    const neuron::NeuronSpace space(c, neuron::NeuronKinds::parse(kinds, /*ffn_gate=*/true));
    std::vector<neuron::NeuronId> ids;
    for (int64_t layer = lowest; layer < c.layers; ++layer)
      for (neuron::NeuronKind k : space.kinds().list()) {
        const int64_t every = k == neuron::NeuronKind::Ffn  ? layer + 2
                              : k == neuron::NeuronKind::QO ? 5
                                                            : 3;
        for (int64_t i = 0; i < space.units(k) / 2; i += every)
          ids.push_back(neuron::make_id(layer, k, i));
      }
    std::sort(ids.begin(), ids.end());
    const std::vector<float> scores(ids.size(), 1.0f);
    neuron::save_neuron_set(path, neuron::make_neuron_set(space, ids, scores, "test", "test", ""));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return path;
}

struct Mode {
  const char* name;
  std::vector<std::string> args;  // beyond the layout's
};

// Each mode of `neft train` at `layout` (with `more` options) against its plan, rank by rank.
void expect_plan_matches_training(const Layout& layout, const std::vector<std::string>& more) {
  SharedTempDir dir;
  const model::LlamaConfig tiny = model::resolve_config("tiny");
  const std::string neurons = write_uneven_neurons(dir, tiny);
  const std::string upper_ffn = write_uneven_neurons(dir, tiny, "ffn", 1);
  const std::string top = write_uneven_neurons(dir, tiny, "all", 3);
  const int dp = world_size() / layout.model_ranks();
  const std::vector<Mode> modes = {
      {"full", {"--micro-batch", "2"}},
      {"neurons", {"--micro-batch", "2", "--neurons", neurons}},
      {"lora", {"--micro-batch", "2", "--lora-rank", "4", "--lora-targets", "q,v,o,down"}},
      {"lora-dropout",
       {"--micro-batch", "2", "--lora-rank", "4", "--lora-targets", "q,v,o,down", "--lora-dropout",
        "0.1"}},
      {"full-recompute", {"--micro-batch", "3", "--recompute"}},
      {"full-distopt", {"--micro-batch", "2", "--distributed-optimizer"}},
      {"neurons-distopt", {"--micro-batch", "2", "--neurons", neurons, "--distributed-optimizer"}},
      {"neurons-ffn-from-1", {"--micro-batch", "2", "--neurons", upper_ffn}},
      {"neurons-from-3", {"--micro-batch", "2", "--neurons", top, "--recompute"}},
  };
  for (const Mode& mode : modes) {
    const std::string out = dir.file(mode.name);
    const std::vector<std::string> args =
        with({"train", "--model", "tiny", "--out", out, "--tp", std::to_string(layout.tp), "--pp",
              std::to_string(layout.pp), "--grad-accum", std::to_string(kGlobalMicroBatches / dp),
              "--seq-len", "48", "--steps", "1", "--eval-examples", "2", "--log-every", "100"},
             with(mode.args, more));
    // The allocator's peak from here on, less what the process held already.
    reset_peak_memory(Device::CPU);
    const int64_t before = int64_t(memory_stats(Device::CPU).allocated);
    neft(args);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());

    train::PlanSpec spec = train::plan_spec_of(options_of(args), world_size());
    std::string what = layout.name() + " dp" + std::to_string(dp) + " " + mode.name;
    for (const std::string& option : more) what += " " + option;
    bool found = false;
    for (const nlohmann::json& record : records(out)) {
      if (!record.contains("ranks")) continue;
      const nlohmann::json& s = record["ranks"][size_t(world_rank())];
      ASSERT_EQ(s["rank"].get<int>(), world_rank());
      spec.dp_rank = s["dp"].get<int>();  // the distributed optimizer's share is the dp rank's
      const std::vector<train::RankPlan> plans = train::plan_ranks(spec);
      const auto plan = std::find_if(plans.begin(), plans.end(), [&](const train::RankPlan& p) {
        return p.tp_rank == s["tp"].get<int>() && p.pp_stage == s["pp"].get<int>();
      });
      ASSERT_NE(plan, plans.end()) << what;
      found = true;
      const std::string rank = what + ", rank " + std::to_string(world_rank());
      EXPECT_EQ(s["tp_bytes_per_step"].get<int64_t>(), plan->tp_bytes_per_step) << rank;
      EXPECT_EQ(s["dp_bytes_per_step"].get<int64_t>(), plan->dp_bytes_per_step) << rank;
      EXPECT_EQ(s["pp_bytes_per_step"].get<int64_t>(), plan->pp_bytes_per_step) << rank;
      EXPECT_EQ(s["trained_parameters"].get<int64_t>(), plan->trained_parameters) << rank;
      const train::RankMemory& m = plan->memory;
      const nlohmann::json& held = s["memory"];
      EXPECT_EQ(held["weights"].get<int64_t>(), m.weights) << rank;
      EXPECT_EQ(held["gradients"].get<int64_t>(), m.gradients) << rank;
      EXPECT_EQ(held["optimizer"].get<int64_t>(), m.master + m.moments) << rank;
      // LoRA's [N, r] buffers are the adapters', not the model's (LlamaModel::activation_bytes).
      if (std::string(mode.name).rfind("lora", 0) != 0) {
        EXPECT_EQ(held["activations"].get<int64_t>(), m.activations) << rank;
      }
      // The plan counts every buffer the step holds at its peak, so what it leaves out is
      // what passes outside the step: the setup's transients (a sharded weight's whole
      // tensor while it is drawn, the neuron file's tensors while read, the optimizer's copy
      // of the selected rows), all freed before the first pass and smaller than the
      // activations and gradients that come after them, and a few one-element tensors (the
      // gradient norm, the token counts). 10% is far above those, and far below any buffer of
      // [tokens, hidden] or larger that the plan could miss or count twice.
      const int64_t measured = s["peak_allocated_bytes"].get<int64_t>() - before;
      EXPECT_NEAR(double(m.total), double(measured), 0.10 * double(measured)) << rank;
      std::printf("%s: planned %lld bytes, measured %lld (%+.3f%%)\n", rank.c_str(),
                  (long long)m.total, (long long)measured,
                  100.0 * double(m.total - measured) / double(measured));
    }
    EXPECT_TRUE(found) << what << ": metrics.jsonl has no per-rank record";
  }
}

class PlanAgainstTraining : public ::testing::TestWithParam<Layout> {};

TEST_P(PlanAgainstTraining, BytesSentAreExactAndThePeakIsWithinTenPercent) {
  const Layout layout = GetParam();
  if (!layout.fits())
    GTEST_SKIP() << layout.name() << " on " << world_size() << " ranks is not a layout tested here";
  expect_plan_matches_training(layout, {});
}

// Sequence parallelism (tp 2 only: at tp 1 it does nothing): the norm and residual regions'
// activations split over tp, the gathered inputs and reduce-scattered outputs, the column
// layers' inputs gathered again in backward, the norms' gradients summed once a step, the
// pipeline's stages exchanging their tokens only.
TEST_P(PlanAgainstTraining, WithSequenceParallelism) {
  const Layout layout = GetParam();
  if (!layout.fits() || layout.tp == 1)
    GTEST_SKIP() << layout.name() << " on " << world_size() << " ranks is not a layout tested here";
  expect_plan_matches_training(layout, {"--sequence-parallel"});
}

INSTANTIATE_TEST_SUITE_P(Layouts, PlanAgainstTraining,
                         ::testing::Values(Layout{1, 1}, Layout{2, 1}, Layout{1, 2}, Layout{2, 2}),
                         [](const auto& info) { return info.param.name(); });

}  // namespace
}  // namespace neft::launch
