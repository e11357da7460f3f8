// LoRA at tensor, pipeline and data-parallel layouts against one rank: PEFT's fixture adapter
// on the fixture model, each rank holding its shards (A whole and B's rows on a
// column-parallel base, A's columns and B whole on a row-parallel one). The step's loss and
// every rank's adapter gradients equal the single-rank ones of the same entries, within
// fp32 tolerance, and the base stays frozen; with dropout too, whose masks are keyed by the
// micro-batch's place in the whole step (lora/lora_dropout.h), not by the layout. And
// `neft train --lora-dropout` at every layout: the losses and the adapter of the single-rank
// run of the same global batch.
#include <gtest/gtest.h>

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "lora/lora.h"
#include "lora/peft_format.h"
#include "model/shard.h"
#include "parallel/process_groups.h"
#include "tests/parallel/helpers.h"
#include "tests/unit/model/golden_fixture.h"
#include "tests/unit/model/random_batches.h"
#include "train/model_setup.h"
#include "train/train_step.h"

namespace neft::lora {
namespace {

using parallel::testing::ModelLayout;
class LoraLayouts : public ::testing::TestWithParam<ModelLayout> {};

std::unique_ptr<model::LlamaModel> with_adapter(const model::ModelOptions& o, double dropout) {
  const std::string dir = testing::fixture_dir("gqa_untied");
  auto m = train::build_model({dir, ""}, o, 0);
  PeftAdapter a = load_peft_adapter(dir + "/lora", &m->config());
  a.config.dropout = dropout;
  attach_lora(*m, a.config, 0);
  load_adapter_weights(*m, a, dir + "/lora");
  return m;
}

// One training pass (optimizer step 3) of four micro-batches at layout k against one rank.
void expect_one_ranks_pass(const ModelLayout& k, double dropout) {
  auto groups = parallel::make_process_groups(k.tp, k.pp, parallel::Backend::MPI, 60.0);
  auto single = with_adapter({}, dropout);
  auto sharded = with_adapter(parallel::testing::shard_options(groups), dropout);

  const std::vector<data::Batch> all = ::neft::testing::random_batches(single->config(), 4, 17);
  const std::vector<data::Batch> mine = parallel::testing::replica_share(all, groups);
  const int64_t step = 3;
  const double want = train::forward_backward(*single, all, {}, step).loss;
  const double got =
      train::forward_backward(*sharded, mine, {groups.dp.get(), groups.pp.get()}, step).loss;
  EXPECT_NEAR(got, want, 1e-5 * want) << "rank " << groups.rank;
  if (dropout > 0) {  // the masks move the loss by ten times the tolerance above and more
    auto plain = with_adapter({}, 0);
    EXPECT_GT(std::abs(train::forward_backward(*plain, all, {}, step).loss - want), 1e-4 * want);
  }

  std::map<std::string, Parameter*> whole;
  for (Parameter* p : single->parameters()) whole[p->name] = p;
  size_t adapters = 0;
  for (Parameter* p : sharded->parameters()) {
    if (p->name.find(".lora_") == std::string::npos) {
      EXPECT_FALSE(p->grad.defined()) << p->name;
      continue;
    }
    ++adapters;
    // The single-rank gradient's part that this rank holds.
    Parameter ref = *p;
    ref.value = Tensor::empty(p->value.shape(), DType::F32, Device::CPU);
    model::copy_shard(whole.at(p->name)->grad, ref);
    const std::vector<float> a = p->grad.to_floats(), b = ref.value.to_floats();
    double largest = 0, diff = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      largest = std::max(largest, double(std::abs(b[i])));
      diff = std::max(diff, double(std::abs(a[i] - b[i])));
    }
    // Sums over tokens and ranks in another order: the golden gradient tolerance.
    EXPECT_LE(diff, 1e-4 * largest) << p->name << " on rank " << groups.rank;
  }
  EXPECT_EQ(adapters, size_t(single->config().layers / k.pp) * 7 * 2);
}

TEST_P(LoraLayouts, MatchOneRank) {
  const ModelLayout& k = GetParam();
  if (!parallel::testing::layout_fits(k)) GTEST_SKIP() << "tp x pp does not divide the ranks";
  expect_one_ranks_pass(k, 0);
}

// The same tolerances: the masks are equal bit for bit at every layout, so what differs is
// the order of the same sums, as without dropout.
TEST_P(LoraLayouts, WithDropoutMatchOneRank) {
  const ModelLayout& k = GetParam();
  if (!parallel::testing::layout_fits(k)) GTEST_SKIP() << "tp x pp does not divide the ranks";
  expect_one_ranks_pass(k, 0.25);
}

INSTANTIATE_TEST_SUITE_P(Layouts, LoraLayouts, parallel::testing::model_layouts(),
                         parallel::testing::layout_name);

}  // namespace
}  // namespace neft::lora
