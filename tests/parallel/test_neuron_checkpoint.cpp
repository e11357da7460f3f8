// Neuron-level checkpoints under mpirun, at tp 2, pp 2 and tp 2 x pp 2 (the rest of the world
// data-parallel replicas): the trained rows and optimizer state of selected neurons, whose
// count differs from rank to rank, are written by every rank into its own file keyed by
// whole-tensor neuron index (train/sharded_checkpoint.h), so a checkpoint saved at the layout
// loads at tp 1 and one saved at tp 1 loads at the layout, each neuron getting its own rows;
// it matches the same run on one rank; a checkpoint of other neurons is refused on every rank. The
// sparse delta saved at the layout is the file saved at tp 1 from the same weights, and applied at
// the layout to the base it gives the trained shards bit for bit.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "helpers.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "neuron/delta.h"
#include "neuron/neuron_space.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "parallel/process_groups.h"
#include "tests/unit/model/random_batches.h"
#include "tests/unit/model/small_config.h"
#include "train/delta_checkpoint.h"
#include "train/distributed_checkpoint.h"
#include "train/sharded_checkpoint.h"
#include "train/train_step.h"
#include "train_run_helpers.h"

namespace neft::neuron {
namespace {

namespace fs = std::filesystem;
using parallel::testing::error_of;
using parallel::testing::world_rank;
using parallel::testing::world_size;

constexpr uint64_t kSeed = 21;

using ::neft::launch::testing::SharedTempDir;

struct Layout {
  int tp = 1, pp = 1;
  std::string name() const { return "tp" + std::to_string(tp) + "_pp" + std::to_string(pp); }
};

const NeuronKinds kKinds = NeuronKinds::parse("all", /*ffn_gate=*/true);

// Neurons of every kind, more of them in the first half of each kind's units than in the
// second, so the TP ranks hold different counts (and the gathers pad); kv neurons in the
// first half only, so at tp 2 one rank holds none of them.
std::vector<NeuronId> selection(const NeuronSpace& space) {
  std::vector<NeuronId> ids;
  for (NeuronId id : space.owned(0, 0)) {
    const int64_t i = id_index(id), half = space.units(id_kind(id)) / 2;
    const bool second_half = i >= half && id_kind(id) != NeuronKind::KV;
    if (i < half ? i % 3 == 1 : second_half && i % 7 == 2 + id_layer(id)) ids.push_back(id);
  }
  return ids;
}

std::vector<data::Batch> batches(const model::LlamaConfig& c, int step) {
  return ::neft::testing::random_batches(c, 2, uint32_t(50 + step));
}

// A model trained on the selection: at `layout` over `groups`, or on one rank (null groups).
struct TrainedRun {
  std::unique_ptr<model::LlamaModel> model;
  std::unique_ptr<optim::AdamW> optimizer;
};

TrainedRun make_run(const model::LlamaConfig& c, const std::vector<NeuronId>& ids,
                    parallel::ProcessGroups* groups, int steps) {
  model::ModelOptions o;
  int tp = 1, pp = 1;
  if (groups) {
    tp = groups->layout.tp;
    pp = groups->layout.pp;
    o.tp = {groups->tp.get(), groups->tp->rank(), groups->tp->size()};
    o.pp_stage = groups->coords.pp;
    o.pp_stages = pp;
  }
  TrainedRun r;
  r.model = std::make_unique<model::LlamaModel>(c, o);
  r.model->init_random(kSeed, 0.1f);
  train_only(*r.model, NeuronSpace(c, kKinds, tp, pp), ids);
  r.optimizer = std::make_unique<optim::AdamW>(r.model->parameters(), optim::AdamWConfig{});
  // Each data-parallel replica trains on the same batches by itself.
  for (int s = 0; s < steps; ++s)
    train::train_step(*r.model, *r.optimizer, batches(c, s), 1e-2f, 1.0f,
                      {nullptr, groups ? groups->pp.get() : nullptr});
  return r;
}

// What a run holds on this rank: every parameter's value and the optimizer's state.
model::NamedTensors state_of(const TrainedRun& r) {
  model::NamedTensors all;
  for (Parameter* p : r.model->parameters()) all.emplace_back(p->name, p->value);
  for (const auto& named : r.optimizer->state()) all.push_back(named);
  return all;
}

void restore(TrainedRun& r, const std::string& dir) {
  train::restore_trainable_state(train::ShardedCheckpoint(dir), *r.model, *r.optimizer, 3);
}

void expect_bitwise(const model::NamedTensors& got, const model::NamedTensors& want,
                    const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first) << what;
    EXPECT_EQ(got[i].second.shape(), want[i].second.shape()) << what << ": " << want[i].first;
    if (want[i].second.dtype() == DType::I32)
      EXPECT_EQ(got[i].second.to_ints(), want[i].second.to_ints()) << what << ": " << want[i].first;
    else
      EXPECT_EQ(got[i].second.to_floats(), want[i].second.to_floats())
          << what << ": " << want[i].first;
  }
}

// Within a small share of each tensor's largest element (as in test_train_layouts.cpp); the
// neuron indices exactly.
void expect_close(const model::NamedTensors& got, const model::NamedTensors& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].first, want[i].first);
    if (want[i].second.dtype() == DType::I32) {
      EXPECT_EQ(got[i].second.to_ints(), want[i].second.to_ints()) << want[i].first;
      continue;
    }
    const auto g = got[i].second.to_floats(), w = want[i].second.to_floats();
    ASSERT_EQ(g.size(), w.size()) << want[i].first;
    double diff = 0, scale = 0;
    for (size_t e = 0; e < w.size(); ++e) {
      diff = std::max(diff, double(std::abs(g[e] - w[e])));
      scale = std::max(scale, double(std::abs(w[e])));
    }
    EXPECT_LE(diff, 1e-3 * scale) << want[i].first;
  }
}

model::NamedTensors read_all(const std::string& path) {
  const model::SafetensorsFile file(path);
  model::NamedTensors all;
  for (const std::string& name : file.names())
    all.emplace_back(name, file.read(name, file.info(name).dtype));
  return all;
}

class NeuronCheckpoint : public ::testing::TestWithParam<Layout> {};

TEST_P(NeuronCheckpoint, StateAndDeltaMoveBetweenLayouts) {
  const Layout layout = GetParam();
  if (world_size() < 2 || world_size() % (layout.tp * layout.pp) != 0)
    GTEST_SKIP() << layout.name() << " on " << world_size() << " ranks is not tested here";
  auto groups = parallel::make_process_groups(layout.tp, layout.pp, parallel::Backend::MPI, 60.0);
  const model::LlamaConfig c = testing::small_llama_config(false);
  const std::vector<NeuronId> ids = selection(NeuronSpace(c, kKinds));
  const bool rank0 = world_rank() == 0;
  SharedTempDir dir;

  const std::string at_layout = dir.file("layout"), at_tp1 = dir.file("tp1"),
                    again = dir.file("again");
  if (rank0)
    for (const std::string& d : {at_layout, at_tp1, again}) fs::create_directories(d);
  MPI_Barrier(MPI_COMM_WORLD);
  const bool replica_writer = groups.coords.dp == 0;

  // Saved at the layout, every rank its own file; and by the same run on one rank.
  TrainedRun sharded = make_run(c, ids, &groups, 3);
  train::write_sharded_state(at_layout, *sharded.model, *sharded.optimizer, replica_writer,
                             groups.world.get());
  if (rank0) {
    TrainedRun single = make_run(c, ids, nullptr, 3);
    train::write_sharded_state(at_tp1, *single.model, *single.optimizer, true, nullptr);
  }
  MPI_Barrier(MPI_COMM_WORLD);

  // Loaded at tp 1 (on every rank, each by itself): the one-rank run's rows and state, up to
  // the rounding of the tensor-parallel sums, every neuron with its own rows.
  TrainedRun from_layout = make_run(c, ids, nullptr, 0), from_tp1 = make_run(c, ids, nullptr, 0);
  restore(from_layout, at_layout);
  restore(from_tp1, at_tp1);
  expect_close(state_of(from_layout), state_of(from_tp1));
  // Loaded at the layout, each rank its own neurons' rows: saved again and loaded at tp 1, it is
  // what tp 1 saved, bit for bit.
  {
    TrainedRun fresh = make_run(c, ids, &groups, 0);
    restore(fresh, at_tp1);
    train::write_sharded_state(again, *fresh.model, *fresh.optimizer, replica_writer,
                               groups.world.get());
    MPI_Barrier(MPI_COMM_WORLD);
    TrainedRun round = make_run(c, ids, nullptr, 0);
    restore(round, again);
    expect_bitwise(state_of(round), state_of(from_tp1), "tp1 -> layout -> tp1");
  }
  // A run that trains one more ffn neuron in every layer on every TP rank refuses the state.
  {
    std::vector<NeuronId> more = ids;
    const NeuronSpace space(c, kKinds, layout.tp, layout.pp);
    std::set<std::pair<int64_t, int>> added;  // (layer, tp rank)
    for (NeuronId id : NeuronSpace(c, kKinds).owned(0, 0)) {
      const auto key = std::pair{id_layer(id), space.owner(id).tp_rank};
      if (id_kind(id) == NeuronKind::Ffn && !added.count(key) &&
          !std::binary_search(ids.begin(), ids.end(), id)) {
        more.push_back(id);
        added.insert(key);
      }
    }
    TrainedRun other = make_run(c, more, &groups, 0);
    const std::string message = error_of([&] { restore(other, at_layout); });
    const std::string index = at_layout + "/" + train::kCheckpointIndexFile;
    EXPECT_EQ(message.rfind(index + ": parameter 'model.layers.", 0), 0u) << message;
    EXPECT_NE(message.find("mlp.gate_proj.weight': the saved neurons are not the ones"),
              std::string::npos)
        << message;
  }

  // The delta at the layout is the delta at tp 1 of the same weights.
  const std::string delta_at_layout = dir.file("delta-layout.safetensors");
  const std::string delta_tp1 = dir.file("delta-tp1.safetensors");
  train::save_delta(*sharded.model, delta_at_layout, rank0, groups.pp.get());
  const model::NamedTensors weights =
      train::collect_stages(train::gather_weights(*sharded.model), groups.pp.get());
  if (rank0) {
    model::LlamaModel one(c);
    for (const auto& [name, w] : weights) one.parameter(name).value.copy_from(w);
    train_only(one, NeuronSpace(c, kKinds), ids);
    train::save_delta(one, delta_tp1, true);
    const model::SafetensorsFile a(delta_at_layout), b(delta_tp1);
    EXPECT_EQ(a.metadata(), b.metadata());
    expect_bitwise(read_all(delta_at_layout), read_all(delta_tp1), "delta");
    EXPECT_EQ(a.names().size(), 2u * 2u * 7u);
  }
  MPI_Barrier(MPI_COMM_WORLD);

  // Applied at the layout to the base, it gives every trained shard bit for bit.
  {
    TrainedRun base = make_run(c, ids, &groups, 0);
    apply_delta(*base.model, delta_at_layout);
    for (Parameter* p : base.model->parameters())
      EXPECT_EQ(p->value.to_floats(), sharded.model->parameter(p->name).value.to_floats())
          << p->name << " on rank " << world_rank();
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, NeuronCheckpoint,
                         ::testing::Values(Layout{2, 1}, Layout{1, 2}, Layout{2, 2}),
                         [](const auto& info) { return info.param.name(); });

}  // namespace
}  // namespace neft::neuron
