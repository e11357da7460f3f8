// RMSNorm forward and backward. rstd is an output but is excluded from the gradient loss:
// it is saved for backward, not used downstream.
#include <cmath>

#include "runtime/ops/rmsnorm.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

struct Shape2 {
  int64_t n, c;
  float eps;
  bool dweight_f32;  // on CUDA, accumulate dweight in f32 whatever weight's dtype
  bool weight_f32;   // on the CUDA bf16 run, keep weight in f32 (x bf16, weight f32)
};

const Shape2 kShapes[] = {{1, 7, 1e-5f, false, false},    {7, 173, 1e-5f, true, false},
                          {173, 7, 1e-6f, false, true},   {173, 173, 1e-5f, true, true},
                          {1, 4099, 1e-5f, false, false}, {7, 4099, 1e-6f, true, false}};

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 100;
  for (const Shape2& s : kShapes) {
    const int64_t n = s.n, c = s.c;
    const float eps = s.eps;
    OpCase k{"rmsnorm",
             std::to_string(n) + "x" + std::to_string(c),
             {{"x", random_tensor({n, c}, seed++, -2.0f, 2.0f)},
              {"weight", random_tensor({c}, seed++, -1.5f, 1.5f)}}};
    k.forward = [=](const Tensors& in) {
      Tensor y = empty_like(in[0], {n, c});
      Tensor rstd = empty_as(in[0], {n}, DType::F32);
      ops::rmsnorm_forward(in[0], in[1], eps, y, rstd);
      return Tensors{y, rstd};
    };
    const bool dweight_f32 = s.dweight_f32;
    k.backward = [=](const Tensors& in, const Tensors& g) {
      Tensor y = empty_like(in[0], {n, c});
      Tensor rstd = empty_as(in[0], {n}, DType::F32);
      ops::rmsnorm_forward(in[0], in[1], eps, y, rstd);
      Tensor dx = empty_like(in[0], {n, c});
      Tensor dw = dweight_f32 ? empty_as(in[1], {c}, DType::F32) : empty_like(in[1], {c});
      dw.zero_();
      ops::rmsnorm_backward(g[0], in[0], in[1], rstd, dx, dw);
      return Tensors{dx, dw};
    };
    k.reference = [=](const std::vector<Values>& in) {
      const Values &x = in[0], &w = in[1];
      Values y(static_cast<size_t>(n * c)), rstd(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        double ss = 0;
        for (int64_t j = 0; j < c; ++j) ss += x[i * c + j] * x[i * c + j];
        rstd[i] = 1.0 / std::sqrt(ss / double(c) + double(eps));
        for (int64_t j = 0; j < c; ++j) y[i * c + j] = x[i * c + j] * rstd[i] * w[j];
      }
      return std::vector<Values>{y, rstd};
    };
    k.output_differentiable = {true, false};
    k.keep_f32 = {false, s.weight_f32};
    cases.push_back(k);
  }
  return cases;
}

CaseRegistrar registrar("rmsnorm", make_cases);

}  // namespace
}  // namespace neft::testing
