// The tensor-parallel model against the single-rank one, under mpirun: with the same seed
// every rank's shard starts as its slice of the single-rank weights, and five clipped AdamW
// steps give the same loss at every step and the same weights (each shard against its
// slice) within fp32 tolerance.
#include <gtest/gtest.h>

#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

#include "data/batch.h"
#include "model/llama.h"
#include "model/shard.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "parallel/process_groups.h"
#include "tests/adam_bound.h"
#include "tests/unit/model/small_config.h"
#include "train/train_step.h"

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
  model::ModelOptions o;
  o.tp = {groups.tp.get(), groups.tp->rank(), groups.tp->size()};
  o.pp_stage = groups.coords.pp;
  o.pp_stages = k.pp;
  model::LlamaModel sharded(c, o);
  sharded.init_random(11, 0.1f);
  optim::AdamW opt_sharded(sharded.parameters(), {});
  // The micro-batches of a step: all of them for the single-rank run (gradient accumulation);
  // data-parallel rank r takes micro-batches r, r + dp, ... of the same list.
  auto micro_batches = [&](int step, bool all) {
    std::vector<data::Batch> out;
    for (int m = 0; m < 3 * k.dp; ++m)
      if (all || m % k.dp == groups.coords.dp)
        out.push_back(batch(c, 2, 9, uint32_t(100 * step + m)));
    return out;
  };
  // The single-rank run, or one of its shadows (tests/adam_bound.h).
  auto single_run = [&](testing::AdamBound* bound, const testing::GradientHook& hook) {
    auto m = std::make_unique<model::LlamaModel>(c);
    m->init_random(11, 0.1f);
    optim::AdamW opt(m->parameters(), {});
    std::vector<train::StepResult> steps;
    for (int step = 0; step < 5; ++step) {
      steps.push_back(
          testing::train_step_with(*m, opt, micro_batches(step, true), kLr, 1.0f, hook, step));
      if (bound)
        bound->observe(m->parameters(), kLr, optim::clip_factor(steps.back().grad_norm, 1.0f));
    }
    return std::pair{std::move(m), steps};
  };
  testing::AdamBound bound(optim::AdamWConfig{});
  auto [single, expected] = single_run(&bound, nullptr);
  for (int shadow = 0; shadow < testing::kShadowRuns; ++shadow)
    bound.add_shadow(
        single->parameters(),
        single_run(nullptr, testing::shadow_hook(uint64_t(shadow + 1))).first->parameters());

  for (int step = 0; step < 5; ++step) {
    const auto& a = expected[size_t(step)];
    const auto b = train::train_step(sharded, opt_sharded, micro_batches(step, false), kLr, 1.0f,
                                     {groups.dp.get(), groups.pp.get()});
    EXPECT_NEAR(b.loss, a.loss, 1e-5 * a.loss) << "step " << step;
    EXPECT_NEAR(b.grad_norm, a.grad_norm, 1e-4 * a.grad_norm) << "step " << step;
  }
  // Every parameter this rank holds (its stage's, its shard) against the same one of the
  // single-rank model, within the element-wise bound of two AdamW runs whose gradients differ
  // by rounding (tests/adam_bound.h): the shards sum in other orders.
  const ParameterList mine = sharded.parameters();
  ASSERT_FALSE(mine.empty());
  double worst = 0;
  for (Parameter* p : mine) {
    const Parameter& whole = single->parameter(p->name);
    // The single-rank value and allowance, cut to this rank's shard.
    auto shard_of = [&](const std::vector<float>& full) {
      Parameter cut = *p;
      cut.value = Tensor::empty(p->value.shape(), DType::F32);
      model::copy_shard(Tensor::from_floats(full, whole.value.shape()), cut);
      return cut.value.to_floats();
    };
    const std::vector<double> a = bound.allowed(whole);
    const std::vector<float> allowed = shard_of(std::vector<float>(a.begin(), a.end()));
    worst = std::max(worst,
                     testing::expect_within(p->name + " on rank " + std::to_string(groups.rank),
                                            p->value.to_floats(), shard_of(whole.value.to_floats()),
                                            std::vector<double>(allowed.begin(), allowed.end())));
  }
  if (groups.rank == 0) std::printf("largest difference / bound over the weights: %.3g\n", worst);
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
