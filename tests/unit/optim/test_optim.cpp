// optim/: schedules at their defining points, the global norm and clip factor, and AdamW
// against a double-precision transcription of torch.optim.AdamW (plus state round trips).
#include <gtest/gtest.h>

#include <cmath>

#include "optim/adamw.h"
#include "optim/clip.h"
#include "optim/schedule.h"
#include "runtime/error.h"

namespace neft::optim {
namespace {

TEST(LrSchedule, WarmupThenDecayToMinLr) {
  LrSchedule s{"cosine", 1.0f, 0.1f, 10, 110};
  EXPECT_FLOAT_EQ(s.at(0), 0.1f);  // (step + 1) / warmup
  EXPECT_FLOAT_EQ(s.at(9), 1.0f);
  EXPECT_FLOAT_EQ(s.at(10), 1.0f);
  EXPECT_NEAR(s.at(60), 0.55f, 1e-6);  // half way: the mean of lr and min_lr
  EXPECT_FLOAT_EQ(s.at(110), 0.1f);
  EXPECT_FLOAT_EQ(s.at(500), 0.1f);
  s.kind = "linear";
  EXPECT_NEAR(s.at(35), 1.0f - 0.9f * 0.25f, 1e-6);
  s.kind = "constant";
  EXPECT_FLOAT_EQ(s.at(80), 1.0f);
}

TEST(LrSchedule, RejectsBadSettingsNamingTheKey) {
  LrSchedule s;
  s.kind = "step";
  EXPECT_THROW(
      {
        try {
          s.validate();
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("lr-schedule: 'step'"), std::string::npos);
          throw;
        }
      },
      Error);
  s = LrSchedule{};
  s.min_lr = 2 * s.lr;
  EXPECT_THROW(s.validate(), Error);
}

Parameter param(const std::string& name, std::vector<float> value, std::vector<float> grad,
                bool decay) {
  const Shape shape{int64_t(value.size())};
  return {name, Tensor::from_floats(value, shape), Tensor::from_floats(grad, shape), decay};
}

TEST(Clip, GlobalNormOverAllGradientsAndFactor) {
  Parameter a = param("a", {1, 1}, {3, 0}, true), b = param("b", {1}, {4}, false);
  Parameter frozen = param("c", {1}, {0}, true);
  frozen.grad = Tensor();
  EXPECT_DOUBLE_EQ(global_grad_norm({&a, &b, &frozen}), 5.0);
  EXPECT_NEAR(clip_factor(5.0, 1.0f), 0.2f, 1e-7);
  EXPECT_EQ(clip_factor(0.5, 1.0f), 1.0f);
  EXPECT_EQ(clip_factor(5.0, 0.0f), 1.0f);
}

// torch.optim.AdamW's update in double.
struct Reference {
  double p, m = 0, v = 0;
  void step(double g, double lr, double b1, double b2, double eps, double wd, int t) {
    p *= 1 - lr * wd;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double denom = std::sqrt(v) / std::sqrt(1 - std::pow(b2, t)) + eps;
    p -= lr / (1 - std::pow(b1, t)) * m / denom;
  }
};

TEST(AdamW, MatchesTorchUpdateAndDecaysOnlyMatrices) {
  Parameter w = param("w", {0.5f, -1.0f, 2.0f}, {0.1f, -0.2f, 0.3f}, true);
  Parameter n = param("n", {1.5f}, {0.4f}, false);
  AdamW opt({&w, &n}, {0.9f, 0.95f, 1e-8f, 0.1f});
  std::vector<Reference> ref{{0.5}, {-1.0}, {2.0}, {1.5}};
  for (int t = 1; t <= 3; ++t) {
    opt.step(0.01f, 0.5f);
    const float grads[4] = {0.1f, -0.2f, 0.3f, 0.4f};
    for (int i = 0; i < 4; ++i)
      ref[size_t(i)].step(0.5 * grads[i], 0.01, 0.9, 0.95, 1e-8, i < 3 ? 0.1 : 0.0, t);
  }
  const auto wv = w.value.to_floats();
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(wv[size_t(i)], ref[size_t(i)].p, 1e-6);
  EXPECT_NEAR(n.value.to_floats()[0], ref[3].p, 1e-6);
  EXPECT_EQ(opt.steps_taken(), 3);
}

TEST(AdamW, StateRoundTripContinuesBitwise) {
  auto run = [](int first, bool reload) {
    Parameter w = param("w", {0.5f, -1.0f}, {0.1f, -0.2f}, true);
    AdamW opt({&w}, {});
    for (int i = 0; i < first; ++i) opt.step(0.01f);
    if (reload) {
      std::vector<std::pair<std::string, Tensor>> saved;
      for (const auto& [name, t] : opt.state()) saved.emplace_back(name, t.clone());
      Parameter w2 = param("w", w.value.to_floats(), {0.1f, -0.2f}, true);
      AdamW fresh({&w2}, {});
      fresh.load_state(saved, opt.steps_taken());
      for (int i = 0; i < 3; ++i) fresh.step(0.01f);
      return w2.value.to_floats();
    }
    for (int i = 0; i < 3; ++i) opt.step(0.01f);
    return w.value.to_floats();
  };
  EXPECT_EQ(run(2, false), run(2, true));
}

TEST(AdamW, LoadStateRejectsMissingOrMisshapenTensors) {
  Parameter w = param("w", {0.5f, -1.0f}, {0.1f, -0.2f}, true);
  AdamW opt({&w}, {});
  EXPECT_THROW(opt.load_state({}, 1), Error);
  EXPECT_THROW(opt.load_state({{"w.exp_avg", Tensor::zeros({3}, DType::F32)},
                               {"w.exp_avg_sq", Tensor::zeros({2}, DType::F32)}},
                              1),
               Error);
}

}  // namespace
}  // namespace neft::optim
