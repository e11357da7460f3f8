// AdamW steps (no backward: an optimizer step). The reference follows the torch.optim.AdamW
// formulas in double, one step at a time.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "runtime/ops/adamw.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

ops::AdamWParams params(int64_t step, float grad_scale) {
  ops::AdamWParams p;
  p.lr = 1e-2f;
  p.weight_decay = 0.1f;
  p.step = step;
  p.grad_scale = grad_scale;
  return p;
}

// One element of one step, in double.
void reference_step(const ops::AdamWParams& p, double& param, double grad, double& m, double& v) {
  const double g = grad * p.grad_scale;
  param *= 1.0 - double(p.lr) * p.weight_decay;
  m = p.beta1 * m + (1.0 - p.beta1) * g;
  v = p.beta2 * v + (1.0 - p.beta2) * g * g;
  const double bc1 = 1.0 - std::pow(double(p.beta1), double(p.step));
  const double bc2 = 1.0 - std::pow(double(p.beta2), double(p.step));
  const double denom = std::sqrt(v) / std::sqrt(bc2) + p.eps;
  param -= (p.lr / bc1) * m / denom;
}

// Optimizer state inputs of shape s: param, grad, m (small), v (small, non-negative).
std::vector<Input> state_inputs(const Shape& s, uint64_t seed, const char* param_name) {
  return {{param_name, random_tensor(s, seed), false},
          {"grad", random_tensor(s, seed + 1), false},
          {"m", random_tensor(s, seed + 2, -0.1f, 0.1f), false},
          {"v", random_tensor(s, seed + 3, 0.0f, 0.01f), false}};
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 900;
  struct Run {
    Shape shape;
    int steps;
    float grad_scale;
  };
  for (const Run& run : {Run{{1}, 1, 1.0f}, Run{{7}, 1, 1.0f}, Run{{173, 7}, 1, 1.0f},
                         Run{{4099, 3}, 1, 1.0f}, Run{{173, 7}, 3, 0.5f}}) {
    const int steps = run.steps;
    const float scale = run.grad_scale;
    OpCase c{"adamw", shape_name(run.shape).append("_steps").append(std::to_string(steps)),
             state_inputs(run.shape, seed += 10, "param")};
    c.forward = [=](const Tensors& in) {
      Tensor param = in[0].clone(), m = in[2].clone(), v = in[3].clone();
      for (int s = 1; s <= steps; ++s) ops::adamw_update(param, in[1], m, v, params(s, scale));
      return Tensors{param, m, v};
    };
    c.reference = [=](const std::vector<Values>& in) {
      Values param = in[0], m = in[2], v = in[3];
      for (int s = 1; s <= steps; ++s)
        for (size_t i = 0; i < param.size(); ++i)
          reference_step(params(s, scale), param[i], in[1][i], m[i], v[i]);
      return std::vector<Values>{param, m, v};
    };
    c.keep_f32 = {true, false, true, true};  // the bf16 run converts only grad
    cases.push_back(c);
  }

  // Selected rows: state [K, C] for K of R neurons; weight [R, C] (axis 0) or [C, R] (axis 1).
  const int64_t r = 11, c = 7, k = 4;
  for (int axis : {0, 1}) {
    for (int steps : {1, 3}) {
      std::vector<Input> in = state_inputs({k, c}, seed += 10, "master");
      in.push_back({"idx", Tensor::from_ints({9, 0, 4, 10}, {k}), false});
      const Shape ws = axis == 0 ? Shape{r, c} : Shape{c, r};
      in.push_back({"weight", random_tensor(ws, seed + 5), false});
      OpCase rows{"adamw_rows",
                  std::string("axis")
                      .append(std::to_string(axis))
                      .append("_steps")
                      .append(std::to_string(steps)),
                  in};
      rows.forward = [=](const Tensors& in) {
        Tensor master = in[0].clone(), m = in[2].clone(), v = in[3].clone(), w = in[5].clone();
        for (int s = 1; s <= steps; ++s)
          ops::adamw_update_rows(master, in[1], m, v, params(s, 1.0f), in[4], axis, w);
        return Tensors{master, m, v, w};
      };
      rows.reference = [=](const std::vector<Values>& in) {
        Values master = in[0], m = in[2], v = in[3], w = in[5];
        for (int s = 1; s <= steps; ++s)
          for (size_t i = 0; i < master.size(); ++i)
            reference_step(params(s, 1.0f), master[i], in[1][i], m[i], v[i]);
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < c; ++j) {
            const int64_t id = int64_t(in[4][size_t(i)]);
            w[size_t(axis == 0 ? id * c + j : j * r + id)] = master[size_t(i * c + j)];
          }
        return std::vector<Values>{master, m, v, w};
      };
      rows.keep_f32 = {true, false, true, true, false, false};  // grad and weight go to bf16
      cases.push_back(rows);
    }
  }
  return cases;
}

CaseRegistrar registrar("adamw", make_cases);

// Entries of weight outside the selected neurons keep their exact bits; the selected ones
// are the new master values rounded to the weight's dtype.
TEST(AdamWRows, UntouchedRowsBitIdentical) {
  const int64_t r = 11, c = 7, k = 4;
  const std::vector<int32_t> ids = {9, 0, 4, 10};
  std::vector<std::pair<Device, DType>> runs = {{Device::CPU, DType::F32}};
  if (cuda_available())
    for (DType dt : {DType::F32, DType::BF16, DType::F16}) runs.push_back({Device::CUDA, dt});
  for (auto [dev, dt] : runs) {
    for (int axis : {0, 1}) {
      SCOPED_TRACE(::testing::Message()
                   << device_name(dev) << " " << dtype_name(dt) << " axis " << axis);
      const Shape ws = axis == 0 ? Shape{r, c} : Shape{c, r};
      const Tensor w0 = Tensor::from_floats(random_tensor(ws, 3).to_floats(), ws, dt);
      Tensor w = w0.to(dev), master = random_tensor({k, c}, 4).to(dev);
      Tensor m = Tensor::zeros({k, c}, DType::F32, dev), v = m.clone();
      const Tensor grad = random_tensor({k, c}, 5).to(dev), idx = Tensor::from_ints(ids, {k}, dev);
      for (int s = 1; s <= 2; ++s)
        ops::adamw_update_rows(master, grad, m, v, params(s, 1.0f), idx, axis, w);

      const Tensor before = w0, after = w.to(Device::CPU);
      const Tensor want_sel = Tensor::from_floats(master.to_floats(), {k, c}, dt);  // [k, c]
      const size_t es = dtype_size(dt);
      std::set<int64_t> selected;
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < c; ++j) {
          const int64_t e = axis == 0 ? ids[size_t(i)] * c + j : j * r + ids[size_t(i)];
          selected.insert(e);
          EXPECT_EQ(std::memcmp(static_cast<const char*>(after.raw()) + e * es,
                                static_cast<const char*>(want_sel.raw()) + (i * c + j) * es, es),
                    0)
              << "selected entry " << e;
        }
      int64_t untouched = 0;
      for (int64_t e = 0; e < w0.numel(); ++e) {
        if (selected.count(e)) continue;
        ++untouched;
        EXPECT_EQ(std::memcmp(static_cast<const char*>(after.raw()) + e * es,
                              static_cast<const char*>(before.raw()) + e * es, es),
                  0)
            << "untouched entry " << e << " changed";
      }
      EXPECT_EQ(untouched, (r - k) * c);
    }
  }
}

TEST(AdamWRows, CpuRejectsBadIndices) {
  Tensor master = random_tensor({2, 3}, 1), m = Tensor::zeros({2, 3}, DType::F32), v = m.clone();
  const Tensor grad = random_tensor({2, 3}, 2);
  Tensor w = random_tensor({5, 3}, 3);
  EXPECT_THROW(ops::adamw_update_rows(master, grad, m, v, params(1, 1),
                                      Tensor::from_ints({1, 5}, {2}), 0, w),
               Error);
  EXPECT_THROW(ops::adamw_update_rows(master, grad, m, v, params(1, 1),
                                      Tensor::from_ints({2, 2}, {2}), 0, w),
               Error);
  EXPECT_THROW(ops::adamw_update_rows(master, grad, m, v, params(1, 1),
                                      Tensor::from_ints({0, 1}, {2}), 1, w),
               Error);
  EXPECT_NO_THROW(ops::adamw_update_rows(master, grad, m, v, params(1, 1),
                                         Tensor::from_ints({4, 1}, {2}), 0, w));
}

}  // namespace
}  // namespace neft::testing
