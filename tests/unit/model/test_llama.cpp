// The model's own consistency: every parameter's gradient against finite differences of
// the loss, recompute against stored activations (bitwise), micro-batches against one
// batch, frozen parameters. The golden tests (tests/unit/model/test_golden.cpp) compare
// against HF transformers.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/llama.h"
#include "runtime/ops/elementwise.h"
#include "tests/unit/model/small_config.h"

namespace neft::model {
namespace {

LlamaConfig small_config(bool tied) { return testing::small_llama_config(tied); }

struct Inputs {
  Tensor tokens, targets;
};

Inputs random_inputs(const LlamaConfig& c, int64_t B, int64_t T, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> tok(size_t(B * T)), tgt(size_t(B * T));
  for (size_t i = 0; i < tok.size(); ++i) {
    tok[i] = int32_t(rng() % uint32_t(c.vocab));
    tgt[i] = (i % 5 == 1) ? kIgnoreIndex : int32_t(rng() % uint32_t(c.vocab));
  }
  return {Tensor::from_ints(tok, {B, T}), Tensor::from_ints(tgt, {B, T})};
}

double mean_loss(LlamaModel& m, const Inputs& in) {
  const LossSums s = m.forward(in.tokens, in.targets);
  return s.loss_sum / double(s.tokens);
}

// Larger-than-HF init so every path carries a gradient well above float noise, and norm
// weights away from 1 so a norm-weight bug cannot hide.
void init_for_gradcheck(LlamaModel& m) {
  m.init_random(7, 0.3f);
  uint64_t k = 100;
  for (Parameter* p : m.parameters())
    if (p->value.dim() == 1) ops::fill_uniform(p->value, 8, k++ << 40, 0.5f, 1.5f);
}

class LlamaGradient : public ::testing::TestWithParam<bool> {};

TEST_P(LlamaGradient, EveryParameterMatchesFiniteDifferences) {
  const LlamaConfig c = small_config(GetParam());
  LlamaModel m(c);
  init_for_gradcheck(m);
  const Inputs in = random_inputs(c, 2, 7, 3);
  m.zero_grad();
  const LossSums s = m.forward(in.tokens, in.targets);
  m.backward(1.0f / float(s.tokens));

  // Along a random direction within each parameter: one central difference per parameter.
  uint64_t k = 1;
  for (Parameter* p : m.parameters()) {
    Tensor dir = Tensor::empty(p->value.shape(), DType::F32);
    ops::fill_normal(dir, 11, k++ << 40, 0.0f, 1.0f);
    const std::vector<float> d = dir.to_floats(), g = p->grad.to_floats();
    double analytic = 0.0;
    for (size_t i = 0; i < d.size(); ++i) analytic += double(d[i]) * double(g[i]);

    const Tensor saved = p->value.clone();
    const float h = 1e-3f;
    ops::axpy(h, dir, p->value);
    const double up = mean_loss(m, in);
    p->value.copy_from(saved);
    ops::axpy(-h, dir, p->value);
    const double down = mean_loss(m, in);
    p->value.copy_from(saved);
    const double numeric = (up - down) / (2.0 * h);
    // 1e-3 absolute: the float noise of a central difference at h = 1e-3.
    EXPECT_NEAR(analytic, numeric, 2e-2 * std::abs(numeric) + 1e-3)
        << p->name << ": backward " << analytic << " vs finite differences " << numeric;
  }
}

INSTANTIATE_TEST_SUITE_P(Heads, LlamaGradient, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Tied" : "Untied"; });

std::vector<std::vector<float>> grads_of(LlamaModel& m) {
  std::vector<std::vector<float>> out;
  for (Parameter* p : m.parameters()) out.push_back(p->grad.to_floats());
  return out;
}

TEST(Llama, RecomputeIsBitwiseIdenticalToStoredActivations) {
  const LlamaConfig c = small_config(false);
  LlamaModel stored(c), recomputed(c, {Device::CPU, DType::F32, /*recompute=*/true});
  stored.init_random(5);
  recomputed.init_random(5);
  const Inputs in = random_inputs(c, 3, 9, 4);
  for (LlamaModel* m : {&stored, &recomputed}) {
    m->zero_grad();
    const LossSums s = m->forward(in.tokens, in.targets);
    m->backward(1.0f / float(s.tokens));
  }
  EXPECT_EQ(grads_of(stored), grads_of(recomputed));
  EXPECT_LT(recomputed.activation_bytes(), stored.activation_bytes());
}

// A pipeline stage's order (parallel/pipeline_schedule.h): two micro-batches forward, each
// in its own activation slot, then both backward, gives the gradients of forward and backward
// one micro-batch after the other, bit for bit, with activations stored or recomputed; and
// the slots hold their activations side by side (two sets, one recomputed set).
TEST(Llama, ActivationSlotsKeepEachMicroBatchUntilItsBackward) {
  const LlamaConfig c = small_config(false);
  for (const bool recompute : {false, true}) {
    LlamaModel one(c, {Device::CPU, DType::F32, recompute}),
        interleaved(c, {Device::CPU, DType::F32, recompute});
    one.init_random(3);
    interleaved.init_random(3);
    const Inputs mb[2] = {random_inputs(c, 2, 7, 11), random_inputs(c, 2, 7, 12)};
    one.zero_grad();
    for (const Inputs& in : mb) {
      one.forward(in.tokens, in.targets);
      one.backward(0.01f);
    }
    interleaved.zero_grad();
    for (size_t k : {0, 1}) {
      interleaved.use_activation_slot(k);
      interleaved.forward(mb[k].tokens, mb[k].targets);
    }
    for (size_t k : {0, 1}) {
      interleaved.use_activation_slot(k);
      interleaved.backward(0.01f);
    }
    EXPECT_EQ(grads_of(interleaved), grads_of(one)) << (recompute ? "recompute" : "stored");
    EXPECT_GT(interleaved.activation_bytes(), one.activation_bytes());
  }
}

TEST(Llama, MicroBatchesAddUpToOneBatch) {
  const LlamaConfig c = small_config(true);
  LlamaModel m(c);
  m.init_random(9);
  const Inputs all = random_inputs(c, 4, 6, 5);
  m.zero_grad();
  const LossSums whole = m.forward(all.tokens, all.targets);
  m.backward(1.0f / float(whole.tokens));
  const auto expected = grads_of(m);

  m.zero_grad();
  const Inputs halves[2] = {{all.tokens.rows(0, 2), all.targets.rows(0, 2)},
                            {all.tokens.rows(2, 2), all.targets.rows(2, 2)}};
  int64_t counted = 0;
  for (const Inputs& h : halves) {  // count first: the scale is 1 / tokens of the whole step
    for (int32_t t : h.targets.to_ints()) counted += t != kIgnoreIndex;
  }
  double loss_sum = 0;
  for (const Inputs& h : halves) {
    loss_sum += m.forward(h.tokens, h.targets).loss_sum;
    m.backward(1.0f / float(counted));
  }
  EXPECT_EQ(counted, whole.tokens);
  EXPECT_NEAR(loss_sum, whole.loss_sum, 1e-4 * whole.loss_sum);
  const auto got = grads_of(m);
  for (size_t p = 0; p < got.size(); ++p)
    for (size_t i = 0; i < got[p].size(); ++i)
      ASSERT_NEAR(got[p][i], expected[p][i], 1e-6 + 1e-4 * std::abs(expected[p][i]))
          << m.parameters()[p]->name << "[" << i << "]";
}

TEST(Llama, FrozenParametersGetNoGradientAndChangeNothingElse) {
  const LlamaConfig c = small_config(false);
  LlamaModel m(c);
  m.init_random(2);
  const Inputs in = random_inputs(c, 2, 8, 6);
  m.zero_grad();
  m.forward(in.tokens, in.targets);
  m.backward(0.1f);
  const auto all = grads_of(m);

  m.zero_grad();
  for (Parameter* p : m.parameters())
    if (p->name.find("up_proj") != std::string::npos ||
        p->name.find("layernorm") != std::string::npos)
      p->grad = Tensor();
  m.forward(in.tokens, in.targets);
  m.backward(0.1f);
  const ParameterList params = m.parameters();
  for (size_t p = 0; p < params.size(); ++p) {
    if (!params[p]->grad.defined()) continue;
    EXPECT_EQ(params[p]->grad.to_floats(), all[p]) << params[p]->name;
  }
}

TEST(Llama, DefaultPositionsAreZeroToTMinusOneInEveryRow) {
  const LlamaConfig c = small_config(false);
  LlamaModel m(c);
  m.init_random(3);
  const Inputs in = random_inputs(c, 2, 5, 7);
  const double implicit = m.forward(in.tokens, in.targets).loss_sum;
  const Tensor pos = Tensor::from_ints({0, 1, 2, 3, 4, 0, 1, 2, 3, 4}, {2, 5});
  EXPECT_EQ(implicit, m.forward(in.tokens, in.targets, pos).loss_sum);
  // RoPE sees relative positions only, so a constant shift would change nothing: stretch.
  const Tensor shifted = Tensor::from_ints({0, 2, 4, 6, 8, 0, 1, 2, 3, 4}, {2, 5});
  EXPECT_NE(implicit, m.forward(in.tokens, in.targets, shifted).loss_sum);
}

}  // namespace
}  // namespace neft::model
