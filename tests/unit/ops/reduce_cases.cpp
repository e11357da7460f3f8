// sum_squares: the global-gradient-norm reduction. d/dx of g * sum(x^2) is 2 x g.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/ops/elementwise.h"
#include "runtime/ops/reduce.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

// Compensated (Kahan) summation: the finite-difference check differences two sums of a
// million terms, so the reference must not add its own rounding noise of that size.
double sum_of_squares(const Values& x) {
  double s = 0, carry = 0;
  for (double v : x) {
    const double y = v * v - carry, t = s + y;
    carry = (t - s) - y;
    s = t;
  }
  return s;
}

// 2 x g as a new tensor: backward written with the elementwise ops.
Tensor twice_x_times(const Tensor& x, const Tensor& g) {
  Tensor dx = x.clone();
  ops::scale(dx, 2.0f * g.to_floats()[0]);
  return dx;
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 700;
  for (const Shape& s : {Shape{1}, Shape{7}, Shape{173, 3}, Shape{4099, 7}, Shape{1000003}}) {
    OpCase c{"sum_squares", shape_name(s), {{"x", random_tensor(s, seed++)}}};
    c.forward = [](const Tensors& in) {
      Tensor out = empty_as(in[0], {1}, DType::F32);
      ops::sum_squares(in[0], out);
      return Tensors{out};
    };
    c.backward = [](const Tensors& in, const Tensors& g) {
      return Tensors{twice_x_times(in[0], g[0])};
    };
    c.reference = [](const std::vector<Values>& in) {
      return std::vector<Values>{{sum_of_squares(in[0])}};
    };
    cases.push_back(c);
  }
  // Accumulating onto a running total: out = init + sum(x^2); d/dinit = g.
  for (const Shape& s : {Shape{7}, Shape{4099, 7}}) {
    OpCase c{"sum_squares",
             shape_name(s) + "_acc",
             {{"x", random_tensor(s, seed++)}, {"init", random_tensor({1}, seed++, 0.5f, 2.0f)}}};
    c.forward = [](const Tensors& in) {
      Tensor out = in[1].clone();
      ops::sum_squares(in[0], out, true);
      return Tensors{out};
    };
    c.backward = [](const Tensors& in, const Tensors& g) {
      return Tensors{twice_x_times(in[0], g[0]), g[0].clone()};
    };
    c.reference = [](const std::vector<Values>& in) {
      return std::vector<Values>{{in[1][0] + sum_of_squares(in[0])}};
    };
    c.keep_f32 = {false, true};  // the running total is f32 in every run
    cases.push_back(c);
  }
  return cases;
}

CaseRegistrar registrar("reduce", make_cases);

uint32_t bits(const Tensor& t) {
  const float f = t.to_floats()[0];
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST(SumSquares, CudaSameBitsEveryRun) {
  if (!cuda_available()) GTEST_SKIP() << "CUDA case skipped: " << cuda_unavailable_reason();
  for (int64_t n : {int64_t(1), int64_t(4099), int64_t(3000017)}) {
    for (DType dt : {DType::F32, DType::BF16}) {
      const Tensor x =
          Tensor::from_floats(random_tensor({n}, 11).to_floats(), {n}, dt, Device::CUDA);
      Tensor first = Tensor::empty({1}, DType::F32, Device::CUDA);
      ops::sum_squares(x, first);
      for (int run = 0; run < 5; ++run) {
        Tensor again = Tensor::empty({1}, DType::F32, Device::CUDA);
        ops::sum_squares(x, again);
        EXPECT_EQ(bits(again), bits(first)) << "n = " << n << " " << dtype_name(dt);
      }
    }
  }
}

}  // namespace
}  // namespace neft::testing
