// Packed rows at tp 2, pp 2 and both, against transformers (tests/golden/gqa_untied/
// packed.safetensors, see tests/unit/model/test_golden_packed.cpp): every example's loss on
// the last stage and every rank's gradient shard match, so the document boundaries reach
// every tensor-parallel rank's heads and every pipeline stage's layers. Tolerances are the
// single-rank golden test's (fp32): the shards only sum in other orders.
#include <gtest/gtest.h>

#include <mpi.h>

#include <string>

#include "data/batch.h"
#include "model/safetensors.h"
#include "model/shard.h"
#include "parallel/process_groups.h"
#include "tests/adam_bound.h"
#include "tests/unit/model/golden_fixture.h"
#include "train/model_setup.h"
#include "train/train_step.h"

namespace neft {
namespace {

using testing::relative_error;

struct Layout {
  int tp, pp;
};

class PackedLayouts : public ::testing::TestWithParam<Layout> {};

TEST_P(PackedLayouts, EveryExampleAndGradientMatchTransformers) {
  const Layout& k = GetParam();
  int world = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != k.tp * k.pp) GTEST_SKIP() << "layout for " << k.tp * k.pp << " ranks";
  auto groups = parallel::make_process_groups(k.tp, k.pp, parallel::Backend::MPI, 60.0);
  model::ModelOptions o;
  o.tp = {groups.tp.get(), groups.tp->rank(), groups.tp->size()};
  o.pp_stage = groups.coords.pp;
  o.pp_stages = k.pp;
  const std::string dir = testing::fixture_dir("gqa_untied");
  auto m = train::build_model({dir, ""}, o, 0);
  const model::SafetensorsFile golden(dir + "/packed.safetensors");
  const Tensor tokens = golden.read("tokens", DType::I32);
  data::Batch b;
  b.B = tokens.size(0);
  b.T = tokens.size(1);
  b.tokens = tokens.to_ints();
  b.targets = golden.read("targets", DType::I32).to_ints();
  b.positions = golden.read("positions", DType::I32).to_ints();
  b.task.assign(size_t(b.B), -1);
  const train::StepResult r = train::forward_backward(*m, {b}, {nullptr, groups.pp.get()});
  const float loss = golden.read("loss", DType::F32).to_floats()[0];
  EXPECT_NEAR(r.loss, loss, 1e-5 * loss);

  if (m->last_stage()) {
    const std::vector<float> losses = m->token_losses().to_floats();
    const std::vector<float> expected = golden.read("example_loss", DType::F32).to_floats();
    const std::vector<int32_t> row = golden.read("example_row", DType::I32).to_ints(),
                               start = golden.read("example_start", DType::I32).to_ints(),
                               length = golden.read("example_length", DType::I32).to_ints();
    for (size_t e = 0; e < expected.size(); ++e) {
      double sum = 0;
      int64_t n = 0;
      for (int64_t i = row[e] * b.T + start[e]; i < row[e] * b.T + start[e] + length[e]; ++i)
        if (b.targets[size_t(i)] != data::kIgnoreIndex) sum += losses[size_t(i)], ++n;
      EXPECT_NEAR(sum / double(n), expected[e], 1e-5 * expected[e])
          << "example " << e << " on rank " << groups.rank;
    }
  }
  for (Parameter* p : m->parameters()) {
    // The reference gradient cut to this rank's shard of the parameter.
    const Tensor whole = golden.read("grad." + p->name, DType::F32);
    Parameter cut = *p;
    cut.value = Tensor::empty(p->value.shape(), DType::F32);
    model::copy_shard(whole, cut);
    EXPECT_LT(relative_error(p->grad.to_floats(), cut.value.to_floats()),
              testing::kGradientTolerance)
        << p->name << " on rank " << groups.rank;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, PackedLayouts,
                         ::testing::Values(Layout{2, 1}, Layout{1, 2}, Layout{2, 2}),
                         [](const auto& info) {
                           return "tp" + std::to_string(info.param.tp) + "_pp" +
                                  std::to_string(info.param.pp);
                         });

}  // namespace
}  // namespace neft
