// The tensor-parallel model against the single-rank one, under mpirun: with the same seed
// every rank's shard starts as its slice of the single-rank weights, and five clipped AdamW
// steps give the same loss at every step and the same weights (each shard against its
// slice) within fp32 tolerance.
#include <gtest/gtest.h>

#include <mpi.h>
#include <cmath>

#include <random>

#include "data/batch.h"
#include "launch/train_step.h"
#include "model/llama.h"
#include "model/shard.h"
#include "optim/adamw.h"
#include "parallel/process_groups.h"
#include "tests/unit/model/small_config.h"

namespace neft {
namespace {

constexpr float kLr = 1e-2f;

model::LlamaConfig small_config(bool tied) { return testing::small_llama_config(tied); }

data::Batch batch(const model::LlamaConfig& c, int64_t B, int64_t T, uint32_t seed) {
  std::mt19937 rng(seed);
  data::Batch b;
  b.B = B;
  b.T = T;
  for (int64_t i = 0; i < B * T; ++i) {
    b.tokens.push_back(int32_t(rng() % uint32_t(c.vocab)));
    b.targets.push_back(i % 7 == 3 ? data::kIgnoreIndex : int32_t(rng() % uint32_t(c.vocab)));
    b.positions.push_back(int32_t(i % T));
  }
  b.task.assign(size_t(B), -1);
  return b;
}

// A layout and the head kind; runs where the world size is tp * pp * dp.
struct Case {
  int tp, pp, dp;
  bool tied;
};

class ParallelModel : public ::testing::TestWithParam<Case> {};

// The single-rank run takes every rank's micro-batches in one step (gradient accumulation);
// data-parallel rank r takes micro-batches r, r + dp, ... of the same list; every pipeline
// stage takes the same ones (two or more per rank, so the 1F1B schedule has work in flight).
TEST_P(ParallelModel, FiveStepsMatchTheSingleRankRun) {
  const Case& k = GetParam();
  int world = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != k.tp * k.pp * k.dp) GTEST_SKIP() << "layout for " << k.tp * k.pp * k.dp << " ranks";
  auto groups = parallel::make_process_groups(k.tp, k.pp, parallel::Backend::MPI, 60.0);
  const model::LlamaConfig c = small_config(k.tied);
  model::LlamaModel single(c);
  model::ModelOptions o;
  o.tp = {groups.tp.get(), groups.tp->rank(), groups.tp->size()};
  o.pp_stage = groups.coords.pp;
  o.pp_stages = k.pp;
  model::LlamaModel sharded(c, o);
  single.init_random(11, 0.1f);
  sharded.init_random(11, 0.1f);
  optim::AdamW opt_single(single.parameters(), {}), opt_sharded(sharded.parameters(), {});

  for (int step = 0; step < 5; ++step) {
    std::vector<data::Batch> all, mine;
    for (int m = 0; m < 3 * k.dp; ++m) all.push_back(batch(c, 2, 9, uint32_t(100 * step + m)));
    for (size_t m = size_t(groups.coords.dp); m < all.size(); m += size_t(k.dp))
      mine.push_back(all[m]);
    const auto a = launch::train_step(single, opt_single, all, kLr, 1.0f);
    const auto b = launch::train_step(sharded, opt_sharded, mine, kLr, 1.0f,
                                      {groups.dp.get(), groups.pp.get()});
    EXPECT_NEAR(b.loss, a.loss, 1e-5 * a.loss) << "step " << step;
    EXPECT_NEAR(b.grad_norm, a.grad_norm, 1e-4 * a.grad_norm) << "step " << step;
  }
  // Every parameter this rank holds (its stage's, its shard) against the same one of the
  // single-rank model.
  const ParameterList mine = sharded.parameters();
  ASSERT_FALSE(mine.empty());
  for (size_t i = 0; i < mine.size(); ++i) {
    Parameter expected = *mine[i];
    expected.value = Tensor::empty(mine[i]->value.shape(), DType::F32);
    model::copy_shard(single.parameter(mine[i]->name).value, expected);
    const auto got = mine[i]->value.to_floats(), want = expected.value.to_floats();
    double diff = 0;
    for (size_t e = 0; e < got.size(); ++e)
      diff = std::max(diff, double(std::abs(got[e] - want[e])));
    // A share of one Adam step (lr): an element whose gradient is near zero moves by about
    // lr whatever its sign, so rounding differences show up at that scale (as in the golden
    // tests).
    EXPECT_LT(diff, 2e-2 * kLr) << mine[i]->name << " on rank " << groups.rank;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, ParallelModel,
                         ::testing::Values(Case{2, 1, 1, false}, Case{2, 1, 1, true},
                                           Case{1, 1, 2, false}, Case{1, 2, 1, false},
                                           Case{2, 1, 2, false}, Case{2, 1, 2, true},
                                           Case{2, 2, 1, false}, Case{1, 2, 2, false},
                                           Case{1, 1, 4, true}),
                         [](const auto& info) {
                           const Case& k = info.param;
                           return "tp" + std::to_string(k.tp) + "_pp" + std::to_string(k.pp) +
                                  "_dp" + std::to_string(k.dp) + (k.tied ? "_tied" : "_untied");
                         });

TEST(ParallelModel, TpThatDoesNotDivideTheKvHeadsIsAClearError) {
  int world = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != 4) GTEST_SKIP() << "needs 4 ranks";
  auto groups = parallel::make_process_groups(4, 1, parallel::Backend::MPI, 60.0);
  model::ModelOptions o;
  o.tp = {groups.tp.get(), groups.tp->rank(), groups.tp->size()};
  try {
    model::LlamaModel m(small_config(false), o);  // 2 kv heads over 4 ranks
    FAIL() << "built a model whose kv heads do not split over tp 4";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tp 4 does not divide num_key_value_heads 2"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace neft
