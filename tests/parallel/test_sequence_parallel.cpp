// Sequence parallelism against the same layout without it (tp 2, and tp 2 with pp 2 or dp 2 on
// four ranks), model by model: the fixture with a LoRA adapter, full and neuron-level training
// of the tiny preset. One step's loss is the same bit for bit, and so is every gradient but the
// norms' (summed over each rank's tokens and then over the group, an order of its own); three
// neuron-level AdamW steps leave every weight bit for bit as without it; a forward pass whose
// tokens do not divide by tp runs whole, with the same losses.
//
// Why bit for bit: the split changes only where the hidden states' rows live. Every
// matrix product reads the same whole-token operands as without it (the gathered input is the
// whole input), the norms, residual adds and RoPE work row by row, and at tp 2 a
// reduce-scatter adds the same two partial sums as the all-reduce it replaces (a + b = b + a
// in IEEE arithmetic).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <string>

#include "lora/lora.h"
#include "lora/peft_format.h"
#include "neuron/neuron_space.h"
#include "neuron/trainable.h"
#include "optim/adamw.h"
#include "parallel/process_groups.h"
#include "tests/adam_bound.h"
#include "tests/parallel/helpers.h"
#include "tests/unit/model/golden_fixture.h"
#include "tests/unit/model/random_batches.h"
#include "train/model_setup.h"
#include "train/train_step.h"

namespace neft {
namespace {

using parallel::testing::ModelLayout;

enum class Training { Full, Neurons, Lora };
const char* training_name(Training t) {
  return t == Training::Full ? "full" : t == Training::Neurons ? "neurons" : "lora";
}

// Every 5th neuron of every kind (gate joining the FFN's): rows and columns on both tp ranks.
std::vector<neuron::NeuronId> every_fifth(const model::LlamaConfig& c,
                                          const neuron::NeuronKinds& kinds) {
  const std::vector<neuron::NeuronId> all = neuron::NeuronSpace(c, kinds).owned(0, 0);
  std::vector<neuron::NeuronId> ids;
  for (size_t i = 0; i < all.size(); i += 5) ids.push_back(all[i]);
  return ids;
}

std::unique_ptr<model::LlamaModel> make_model(Training t, model::ModelOptions o,
                                              bool sequence_parallel) {
  o.tp.sequence_parallel = sequence_parallel;
  if (t == Training::Lora) {  // PEFT's fixture adapter: B is not zero, so A has a gradient
    const std::string dir = testing::fixture_dir("gqa_untied");
    auto m = train::build_model({dir, ""}, o, 0);
    const lora::PeftAdapter a = lora::load_peft_adapter(dir + "/lora", &m->config());
    lora::attach_lora(*m, a.config, 0);
    lora::load_adapter_weights(*m, a, dir + "/lora");
    return m;
  }
  auto m = train::build_model({"tiny", ""}, o, 7);
  if (t == Training::Neurons) {
    const neuron::NeuronKinds kinds = neuron::NeuronKinds::parse("all", /*ffn_gate=*/true);
    neuron::train_only(*m, neuron::NeuronSpace(m->config(), kinds, o.tp.size, o.pp_stages),
                       every_fifth(m->config(), kinds));
  }
  return m;
}

bool is_norm(const std::string& name) { return name.find("norm.weight") != std::string::npos; }

class SequenceParallel : public ::testing::TestWithParam<ModelLayout> {
 protected:
  void SetUp() override {
    if (!parallel::testing::layout_fits(GetParam())) GTEST_SKIP() << "tp x pp does not divide";
  }
};

TEST_P(SequenceParallel, OneStepsLossAndGradientsEqualTheLayoutWithoutIt) {
  const ModelLayout& k = GetParam();
  auto groups = parallel::make_process_groups(k.tp, k.pp, parallel::Backend::MPI, 60.0);
  const model::ModelOptions o = parallel::testing::shard_options(groups);
  const train::StepGroups step{groups.dp.get(), groups.pp.get()};
  for (Training t : {Training::Full, Training::Neurons, Training::Lora}) {
    const std::string what =
        std::string(training_name(t)) + " on rank " + std::to_string(groups.rank);
    auto plain = make_model(t, o, false), split = make_model(t, o, true);
    // B = 2, T = 7: 14 tokens a micro-batch, 7 a rank.
    const std::vector<data::Batch> mine = parallel::testing::replica_share(
        ::neft::testing::random_batches(plain->config(), 4, 17), groups);
    const double want = train::forward_backward(*plain, mine, step).loss;
    const double got = train::forward_backward(*split, mine, step).loss;
    EXPECT_EQ(got, want) << what;

    const ParameterList a = split->parameters(), b = plain->parameters();
    ASSERT_EQ(a.size(), b.size());
    size_t norms = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i]->name, b[i]->name);
      ASSERT_EQ(a[i]->grad.defined(), b[i]->grad.defined()) << a[i]->name;
      if (!a[i]->grad.defined()) continue;
      const std::vector<float> g = a[i]->grad.to_floats(), w = b[i]->grad.to_floats();
      if (!is_norm(a[i]->name)) {
        EXPECT_EQ(g, w) << what << ": " << a[i]->name;
        continue;
      }
      // A norm's gradient sums a term per token: here each rank's half, then the two halves
      // (LlamaModel::sum_sequence_parallel_grads), another order than the one sum over every
      // token without it. Another summation order is what kGradientTolerance bounds
      // (tests/adam_bound.h: the golden test's tolerance, relative to the tensor's largest
      // entry); a token counted on the wrong rank, twice or not at all would move an entry by
      // a whole term.
      ++norms;
      double largest = 0, diff = 0;
      for (size_t j = 0; j < w.size(); ++j) {
        largest = std::max(largest, double(std::abs(w[j])));
        diff = std::max(diff, double(std::abs(g[j] - w[j])));
      }
      EXPECT_LE(diff, ::neft::testing::kGradientTolerance * largest) << what << ": " << a[i]->name;
      EXPECT_GT(largest, 0.0) << what << ": " << a[i]->name;
    }
    // Full training trains the norms: two a layer of the stage, and the final one on the last.
    const size_t stage_norms = split->sequence_parallel_parameters().size();
    EXPECT_EQ(norms, t == Training::Full ? stage_norms : 0u) << what;
  }
}

TEST_P(SequenceParallel, NeuronLevelStepsLeaveEveryWeightAsWithoutIt) {
  const ModelLayout& k = GetParam();
  auto groups = parallel::make_process_groups(k.tp, k.pp, parallel::Backend::MPI, 60.0);
  const model::ModelOptions o = parallel::testing::shard_options(groups);
  const train::StepGroups step{groups.dp.get(), groups.pp.get()};
  auto plain = make_model(Training::Neurons, o, false);
  auto split = make_model(Training::Neurons, o, true);
  optim::AdamW plain_opt(plain->parameters(), {}), split_opt(split->parameters(), {});
  const std::vector<data::Batch> all = ::neft::testing::random_batches(plain->config(), 12, 5);
  for (int s = 0; s < 3; ++s) {
    const std::vector<data::Batch> four(all.begin() + 4 * s, all.begin() + 4 * s + 4);
    const std::vector<data::Batch> mine = parallel::testing::replica_share(four, groups);
    const train::StepResult want = train::train_step(*plain, plain_opt, mine, 1e-2f, 1.0f, step);
    const train::StepResult got = train::train_step(*split, split_opt, mine, 1e-2f, 1.0f, step);
    EXPECT_EQ(got.loss, want.loss) << "step " << s;
    EXPECT_EQ(got.grad_norm, want.grad_norm) << "step " << s;
  }
  const ParameterList a = split->parameters(), b = plain->parameters();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i]->value.to_floats(), b[i]->value.to_floats()) << a[i]->name;
}

TEST_P(SequenceParallel, AForwardWhoseTokensDoNotDivideRunsWhole) {
  const ModelLayout& k = GetParam();
  auto groups = parallel::make_process_groups(k.tp, k.pp, parallel::Backend::MPI, 60.0);
  const model::ModelOptions o = parallel::testing::shard_options(groups);
  auto plain = make_model(Training::Full, o, false), split = make_model(Training::Full, o, true);
  // 1 x 7 tokens: 7 do not divide by tp 2 (an evaluation's odd batch); 2 x 7 do.
  for (int64_t B : {1, 2}) {
    const data::Batch b = ::neft::testing::random_batches(plain->config(), 1, 3, B)[0];
    const data::BatchTensors t = data::to_tensors(b, Device::CPU);
    EXPECT_EQ(split->residual_rows(B * 7), B == 1 ? 7 : 7 * 2 / k.tp);
    if (k.pp > 1) continue;  // a stage's input comes from the previous one
    plain->forward(t.tokens, t.targets, t.positions);
    split->forward(t.tokens, t.targets, t.positions);
    EXPECT_EQ(split->token_losses().to_floats(), plain->token_losses().to_floats()) << B;
    EXPECT_EQ(split->final_hidden().to_floats(), plain->final_hidden().to_floats()) << B;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, SequenceParallel,
                         ::testing::Values(ModelLayout{2, 1}, ModelLayout{2, 2}),
                         parallel::testing::layout_name);

}  // namespace
}  // namespace neft
