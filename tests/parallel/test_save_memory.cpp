// What saving costs a rank, measured by the allocator at tp 2 (the rest of the world
// data-parallel replicas): a training checkpoint adds nothing to a rank's peak beyond a copy of
// its own trained neurons' rows and state (every rank writes the slices it holds); the final
// model's streamed export adds, on a rank, less than three whole tensors of the largest size
// (the gathered tensor, the all-gather buffer of a column split, an index), never the whole
// model.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <filesystem>

#include "helpers.h"
#include "model/llama.h"
#include "neuron/neuron_space.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "parallel/process_groups.h"
#include "runtime/device.h"
#include "tests/unit/model/random_batches.h"
#include "tests/unit/model/small_config.h"
#include "train/distributed_checkpoint.h"
#include "train/sharded_checkpoint.h"
#include "train/train_step.h"
#include "train_run_helpers.h"

namespace neft::train {
namespace {

using ::neft::launch::testing::SharedTempDir;
using parallel::testing::world_rank;
using parallel::testing::world_size;

// Bytes the allocator's peak rose by while `f` ran.
template <class F>
size_t peak_rise(F&& f) {
  const size_t before = memory_stats(Device::CPU).allocated;
  reset_peak_memory(Device::CPU);
  f();
  return memory_stats(Device::CPU).peak - before;
}

size_t state_bytes(const optim::AdamW& opt) {
  size_t bytes = 0;
  for (const auto& [name, t] : opt.state()) bytes += t.nbytes();
  return bytes;
}

TEST(SaveMemory, ACheckpointCostsARankNoMoreThanItsOwnRowsAndTheModelOneTensor) {
  if (world_size() < 2 || world_size() % 2 != 0) GTEST_SKIP() << "needs tp 2";
  auto groups = parallel::make_process_groups(2, 1, parallel::Backend::MPI, 60.0);
  const model::LlamaConfig c = ::neft::testing::small_llama_config(false);
  const bool writer = groups.coords.dp == 0;
  SharedTempDir dir;
  if (world_rank() == 0)
    for (const char* d : {"full", "neurons"}) std::filesystem::create_directories(dir.file(d));
  MPI_Barrier(MPI_COMM_WORLD);

  for (const bool neuron_level : {false, true}) {
    model::LlamaModel m(c, parallel::testing::shard_options(groups));
    m.init_random(5, 0.1f);
    if (neuron_level) {
      const neuron::NeuronSpace whole(c, neuron::NeuronKinds::parse("ffn"));
      std::vector<neuron::NeuronId> ids;
      for (neuron::NeuronId id : whole.owned(0, 0))
        if (neuron::id_index(id) % 5 == 1) ids.push_back(id);
      neuron::train_only(m, neuron::NeuronSpace(c, neuron::NeuronKinds::parse("ffn"), 2, 1), ids);
    }
    optim::AdamW opt(m.parameters(), {});
    train_step(m, opt, ::neft::testing::random_batches(c, 2, 9), 1e-2f, 1.0f);
    const std::string at = dir.file(neuron_level ? "neurons" : "full");
    const size_t rise =
        peak_rise([&] { write_sharded_state(at, m, opt, writer, groups.world.get()); });
    // The ranks' index entries travel to rank 0 as text in small tensors: at most the whole
    // index (its file, indented, is larger than the texts).
    MPI_Barrier(MPI_COMM_WORLD);
    const size_t index = std::filesystem::file_size(at + "/" + kCheckpointIndexFile);
    // A dense slice is written from the tensor itself. A neuron-level matrix's rows are
    // copied out of the weight (selected_rows) and, with their state, put in ascending neuron
    // order: its rows twice and its state once, what this rank writes and no more.
    size_t rows = 0;
    for (const Parameter* p : m.parameters())
      if (p->neuron_level()) rows += 2 * size_t(p->neuron_index.numel() * p->grad_shape()[1]) * 4;
    EXPECT_LE(rise, (neuron_level ? rows + state_bytes(opt) : size_t(0)) + index)
        << (neuron_level ? "neuron-level" : "full") << " on rank " << world_rank();
  }

  // The final model, streamed: a rank holds one whole tensor at a time; for a column split,
  // the all-gather's stacked buffer too and the small i32 index that puts its rows in order:
  // under three tensors of the largest size, where the whole model is many more.
  model::LlamaModel m(c, parallel::testing::shard_options(groups));
  m.init_random(5, 0.1f);
  size_t largest = 0, whole_model = 0;
  for (const Parameter* p : m.parameters()) {
    size_t n = 4;
    for (int64_t d : p->full_shape) n *= size_t(d);
    largest = std::max(largest, n);
    whole_model += n;
  }
  const size_t rise = peak_rise([&] {
    if (writer) save_model(m, dir.file("model"), world_rank() == 0);
  });
  EXPECT_LE(rise, 3 * largest) << "on rank " << world_rank();
  EXPECT_LT(3 * largest, whole_model / 2) << "the model is too small for this test to tell";
}

}  // namespace
}  // namespace neft::train
