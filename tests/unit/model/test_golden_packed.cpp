// Packed rows against transformers (tests/golden/make_packed_fixture.py): several examples
// in one row, positions restarting with each, must give every example the logits, losses and
// gradients transformers gives it with a mask closed between examples, which the script
// checked equal to running each example alone. And the packed batch must equal the same
// examples run one per row here. The tolerances are test_golden.cpp's, for the same model
// and numerics; without document masking (every example attending to those before it in its
// row) the logits are off by 0.74 of their scale and every gradient by more than 0.3.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "model/safetensors.h"
#include "tests/adam_bound.h"
#include "tests/unit/model/golden_fixture.h"

namespace neft::model {
namespace {

using testing::relative_error;

struct Tolerance {
  double logits, loss, grad;
};
constexpr Tolerance kF32{2e-5, 1e-5, testing::kGradientTolerance};
constexpr Tolerance kBF16{4e-2, 1e-2, 8e-2};

class GoldenPacked : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    const Device d = GetParam();
    if (d == Device::CUDA && !cuda_available())
      GTEST_SKIP() << "CUDA golden run skipped: " << cuda_unavailable_reason();
    tol_ = d == Device::CUDA ? kBF16 : kF32;
    const std::string dir = testing::fixture_dir("gqa_untied");
    model_ = testing::load_fixture_model(dir, d);
    golden_ = std::make_unique<SafetensorsFile>(dir + "/packed.safetensors");
    tokens_ = golden_->read("tokens", DType::I32, d);
    targets_ = golden_->read("targets", DType::I32, d);
    positions_ = golden_->read("positions", DType::I32, d);
    rows_ = ints("example_row");
    starts_ = ints("example_start");
    lengths_ = ints("example_length");
  }
  std::vector<float> ref(const std::string& name) const {
    return golden_->read(name, DType::F32).to_floats();
  }
  std::vector<int32_t> ints(const std::string& name) const {
    return golden_->read(name, DType::I32).to_ints();
  }
  // The mean loss over the counted tokens of example e, from per-token losses [B*T].
  double example_loss(const std::vector<float>& losses, size_t e) const {
    const std::vector<int32_t> tgt = targets_.to_ints();
    const int64_t T = tokens_.size(1), at = rows_[e] * T + starts_[e];
    double sum = 0;
    int64_t n = 0;
    for (int64_t i = at; i < at + lengths_[e]; ++i)
      if (tgt[size_t(i)] != data::kIgnoreIndex) sum += losses[size_t(i)], ++n;
    return sum / double(n);
  }

  Tolerance tol_;
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<SafetensorsFile> golden_;
  Tensor tokens_, targets_, positions_;
  std::vector<int32_t> rows_, starts_, lengths_;
};

TEST_P(GoldenPacked, EveryExampleMatchesTransformers) {
  const LossSums s = model_->forward(tokens_, targets_, positions_);
  EXPECT_LT(relative_error(model_->logits().to_floats(), ref("logits")), tol_.logits);
  const std::vector<float> losses = model_->token_losses().to_floats();
  const std::vector<float> expected = ref("example_loss");
  ASSERT_EQ(expected.size(), rows_.size());
  for (size_t e = 0; e < expected.size(); ++e)
    EXPECT_NEAR(example_loss(losses, e), expected[e], tol_.loss * expected[e]) << "example " << e;
  const double loss = s.loss_sum / double(s.tokens);
  EXPECT_NEAR(loss, ref("loss")[0], tol_.loss * ref("loss")[0]);
}

TEST_P(GoldenPacked, EveryGradientMatchesTransformers) {
  model_->zero_grad();
  const LossSums s = model_->forward(tokens_, targets_, positions_);
  model_->backward(1.0f / float(s.tokens));
  for (Parameter* p : model_->parameters())
    EXPECT_LT(relative_error(p->grad.to_floats(), ref("grad." + p->name)), tol_.grad) << p->name;
}

// Each example alone, in a row of its own length, against its tokens in the packed run: the
// same function of the same numbers, summed in other orders (other tiles, other GEMM shapes),
// so equal to rounding.
TEST_P(GoldenPacked, PackedEqualsOneExamplePerRow) {
  model_->forward(tokens_, targets_, positions_);
  const std::vector<float> packed = model_->token_losses().to_floats();
  const std::vector<int32_t> tok = tokens_.to_ints(), tgt = targets_.to_ints();
  const int64_t T = tokens_.size(1);
  for (size_t e = 0; e < rows_.size(); ++e) {
    const int64_t at = rows_[e] * T + starts_[e], n = lengths_[e];
    const std::vector<int32_t> t(tok.begin() + at, tok.begin() + at + n),
        y(tgt.begin() + at, tgt.begin() + at + n);
    model_->forward(Tensor::from_ints(t, {1, n}, GetParam()),
                    Tensor::from_ints(y, {1, n}, GetParam()));
    const std::vector<float> alone = model_->token_losses().to_floats();
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(packed[size_t(at + i)], alone[size_t(i)], tol_.loss * alone[size_t(i)])
          << "example " << e << " token " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, GoldenPacked, ::testing::Values(Device::CPU, Device::CUDA),
                         [](const auto& info) { return std::string(device_name(info.param)); });

}  // namespace
}  // namespace neft::model
