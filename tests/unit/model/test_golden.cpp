// The model against HF transformers' LlamaForCausalLM (tests/golden/make_fixtures.py made
// the fixtures): the HF-saved model loads here, and logits, loss, every parameter's gradient
// and the losses of ten clipped AdamW steps match. On the CPU in f32 with tight tolerances;
// on a GPU (when there is one) in bf16 with the looser ones below.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "model/config.h"
#include "model/hf_checkpoint.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "optim/adamw.h"
#include "optim/clip.h"

namespace neft::model {
namespace {

struct Tolerance {
  double logits, loss, grad, step_loss;
  // Final weights: max |ours - reference| as a fraction of lr. Adam moves an element by
  // about lr whatever its gradient's size, so an element whose gradient is near zero can
  // take a visibly different step from rounding alone: the bound is a share of one step,
  // not of the weight.
  double final_weight;
};
// bf16 keeps 8 bits of mantissa: relative errors near 2^-8 per rounding, compounded over layers.
constexpr Tolerance kF32{2e-5, 1e-5, 1e-4, 2e-4, 2e-2};
constexpr Tolerance kBF16{4e-2, 1e-2, 8e-2, 3e-2, 1.0};

struct GoldenCase {
  std::string fixture;
  Device device;
};

std::string fixture_dir(const std::string& name) {
  return std::string(NEFT_SOURCE_DIR) + "/tests/golden/" + name;
}

// max |a - b| / max |b|: the error relative to the tensor's scale.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return diff / std::max(scale, 1e-12);
}

class Golden : public ::testing::TestWithParam<GoldenCase> {
 protected:
  void SetUp() override {
    const GoldenCase& c = GetParam();
    if (c.device == Device::CUDA && !cuda_available())
      GTEST_SKIP() << "CUDA golden run skipped: " << cuda_unavailable_reason();
    dir_ = fixture_dir(c.fixture);
    tol_ = c.device == Device::CUDA ? kBF16 : kF32;
    config_ = load_hf_config(dir_ + "/config.json");
    const ModelOptions options{c.device, c.device == Device::CUDA ? DType::BF16 : DType::F32};
    model_ = std::make_unique<LlamaModel>(config_, options);
    load_hf_weights(*model_, Checkpoint(dir_));
    golden_ = std::make_unique<SafetensorsFile>(dir_ + "/golden.safetensors");
    tokens_ = golden_->read("tokens", DType::I32, c.device);
    targets_ = golden_->read("targets", DType::I32, c.device);
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
  optim::AdamW opt(model_->parameters(),
                   {meta("beta1"), meta("beta2"), meta("eps"), meta("weight_decay")});
  const std::vector<float> expected = ref("adamw_losses");
  const float lr = meta("lr"), max_norm = meta("max_grad_norm");
  for (size_t step = 0; step < expected.size(); ++step) {
    model_->zero_grad();
    const LossSums s = model_->forward(tokens_, targets_);
    model_->backward(1.0f / float(s.tokens));
    const double loss = s.loss_sum / double(s.tokens);
    EXPECT_NEAR(loss, expected[step], tol_.step_loss * expected[step]) << "step " << step;
    opt.step(lr, optim::clip_factor(optim::global_grad_norm(model_->parameters()), max_norm));
  }
  for (Parameter* p : model_->parameters()) {
    const std::string name = "adamw_final." + p->name;
    if (!golden_->has(name)) continue;
    const std::vector<float> ours = p->value.to_floats(), theirs = ref(name);
    double diff = 0;
    for (size_t i = 0; i < ours.size(); ++i)
      diff = std::max(diff, std::abs(double(ours[i]) - double(theirs[i])));
    EXPECT_LT(diff, tol_.final_weight * lr) << p->name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, Golden,
    ::testing::Values(GoldenCase{"gqa_untied", Device::CPU}, GoldenCase{"mha_tied", Device::CPU},
                      GoldenCase{"gqa_untied", Device::CUDA}, GoldenCase{"mha_tied", Device::CUDA}),
    [](const auto& info) { return info.param.fixture + "_" + device_name(info.param.device); });

}  // namespace
}  // namespace neft::model
