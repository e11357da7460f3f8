// The model against HF transformers' LlamaForCausalLM (tests/golden/make_fixtures.py made
// the fixtures): the HF-saved model loads here, and logits, loss, every parameter's gradient
// and the losses of ten clipped AdamW steps match. On the CPU in f32 with tight tolerances;
// on a GPU (when there is one) in bf16 with the looser ones below.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "model/config.h"
#include "model/hf_checkpoint.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "tests/adam_bound.h"
#include "tests/unit/model/golden_fixture.h"

namespace neft::model {
namespace {

using testing::fixture_dir;
using testing::relative_error;

struct Tolerance {
  // Relative to the tensor's largest entry (logits, gradients) or to the value (losses). The
  // final weights after the AdamW steps are held to tests/adam_bound.h's element-wise bound,
  // derived from `grad`: the gradients' agreement carried through Adam and the trajectory.
  double logits, loss, grad, step_loss;
};
// bf16 keeps 8 bits of mantissa: relative errors near 2^-8 per rounding, compounded over layers.
constexpr Tolerance kF32{2e-5, 1e-5, testing::kGradientTolerance, 2e-4};
constexpr Tolerance kBF16{4e-2, 1e-2, 8e-2, 3e-2};

struct GoldenCase {
  std::string fixture;
  Device device;
};

class Golden : public ::testing::TestWithParam<GoldenCase> {
 protected:
  void SetUp() override {
    const GoldenCase& c = GetParam();
    if (c.device == Device::CUDA && !cuda_available())
      GTEST_SKIP() << "CUDA golden run skipped: " << cuda_unavailable_reason();
    dir_ = fixture_dir(c.fixture);
    tol_ = c.device == Device::CUDA ? kBF16 : kF32;
    config_ = load_hf_config(dir_ + "/config.json");
    model_ = load_fixture_model();
    golden_ = std::make_unique<SafetensorsFile>(dir_ + "/golden.safetensors");
    tokens_ = golden_->read("tokens", DType::I32, c.device);
    targets_ = golden_->read("targets", DType::I32, c.device);
  }
  std::unique_ptr<LlamaModel> load_fixture_model() const {
    return testing::load_fixture_model(dir_, GetParam().device);
  }
  optim::AdamWConfig adamw_config() const {
    return {meta("beta1"), meta("beta2"), meta("eps"), meta("weight_decay")};
  }
  // The fixture's ten clipped AdamW steps on `m`, each loss; `bound` observes the steps,
  // `hook` perturbs a shadow run's gradients before each update.
  std::vector<double> adamw_steps(LlamaModel& m, testing::AdamBound* bound,
                                  const testing::GradientHook& hook) const {
    optim::AdamW opt(m.parameters(), adamw_config());
    const float lr = meta("lr"), max_norm = meta("max_grad_norm");
    std::vector<double> losses;
    for (size_t step = 0; step < 10; ++step) {
      m.zero_grad();
      const LossSums s = m.forward(tokens_, targets_);
      m.backward(1.0f / float(s.tokens));
      losses.push_back(s.loss_sum / double(s.tokens));
      if (hook) hook(m.parameters(), int64_t(step));
      const float factor = optim::clip_factor(optim::global_grad_norm(m.parameters()), max_norm);
      opt.step(lr, factor);
      if (bound) bound->observe(m.parameters(), lr, factor);
    }
    return losses;
  }
  float meta(const std::string& key) const { return std::stof(golden_->metadata().at(key)); }
  std::vector<float> ref(const std::string& name) const {
    return golden_->read(name, DType::F32).to_floats();
  }

  std::string dir_;
  Tolerance tol_;
  LlamaConfig config_;
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<SafetensorsFile> golden_;
  Tensor tokens_, targets_;
};

TEST_P(Golden, LogitsAndLossMatchTransformers) {
  const LossSums s = model_->forward(tokens_, targets_);
  EXPECT_LT(relative_error(model_->logits().to_floats(), ref("logits")), tol_.logits);
  const double loss = s.loss_sum / double(s.tokens), expected = ref("loss")[0];
  EXPECT_NEAR(loss, expected, tol_.loss * expected);
}

TEST_P(Golden, EveryGradientMatchesTransformers) {
  model_->zero_grad();
  const LossSums s = model_->forward(tokens_, targets_);
  model_->backward(1.0f / float(s.tokens));
  for (Parameter* p : model_->parameters())
    EXPECT_LT(relative_error(p->grad.to_floats(), ref("grad." + p->name)), tol_.grad) << p->name;
  // Every gradient the reference has is one of ours (none of its parameters is missed).
  size_t reference_grads = 0;
  for (const std::string& name : golden_->names()) reference_grads += name.rfind("grad.", 0) == 0;
  EXPECT_EQ(reference_grads, model_->parameters().size());
}

TEST_P(Golden, TenClippedAdamWStepsMatchTransformers) {
  testing::AdamBound bound(adamw_config(), tol_.grad);
  const std::vector<double> losses = adamw_steps(*model_, &bound, nullptr);
  const std::vector<float> expected = ref("adamw_losses");
  ASSERT_EQ(losses.size(), expected.size());
  for (size_t step = 0; step < expected.size(); ++step)
    EXPECT_NEAR(losses[step], expected[step], tol_.step_loss * expected[step]) << "step " << step;
  for (int k = 0; k < testing::kShadowRuns; ++k) {
    const std::unique_ptr<LlamaModel> shadow = load_fixture_model();
    adamw_steps(*shadow, nullptr, testing::shadow_hook(uint64_t(k + 1), tol_.grad));
    bound.add_shadow(model_->parameters(), shadow->parameters());
  }
  double worst = 0;
  for (Parameter* p : model_->parameters()) {
    const std::string name = "adamw_final." + p->name;
    ASSERT_TRUE(golden_->has(name)) << name;
    worst = std::max(
        worst, testing::expect_within(p->name, p->value.to_floats(), ref(name), bound.allowed(*p)));
  }
  // How close the closest element came: the margin the bound leaves on this machine's kernels.
  std::printf("largest difference / bound over the final weights: %.3g\n", worst);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, Golden,
    ::testing::Values(GoldenCase{"gqa_untied", Device::CPU}, GoldenCase{"mha_tied", Device::CPU},
                      GoldenCase{"gqa_untied", Device::CUDA}, GoldenCase{"mha_tied", Device::CUDA}),
    [](const auto& info) { return info.param.fixture + "_" + device_name(info.param.device); });

}  // namespace
}  // namespace neft::model
