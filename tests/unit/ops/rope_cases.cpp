// Rotary embedding. The angle is defined in fp32 (as Hugging Face computes it), so the
// reference forms it the same way and rotates in double; everything after is exact.
#include <cmath>

#include "runtime/ops/rope.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

// The fp32 angle of the definition in rope.h, written out independently of the op.
double angle(int32_t pos, float theta, int64_t i, int64_t d) {
  const float f = 1.0f / std::pow(theta, float(2 * i) / float(d));
  return double(float(pos) * f);
}

// y = R(sign * a) x on each (i, i + D/2) pair; sign -1 is the transpose.
Values rotate_ref(const Values& x, const Values& pos, float theta, double sign, int64_t n,
                  int64_t h, int64_t d) {
  Values y(x.size());
  const int64_t half = d / 2;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t k = 0; k < h; ++k)
      for (int64_t i = 0; i < half; ++i) {
        const double a = angle(int32_t(pos[t]), theta, i, d);
        const double c = std::cos(a), s = sign * std::sin(a);
        const int64_t base = (t * h + k) * d;
        y[base + i] = x[base + i] * c - x[base + i + half] * s;
        y[base + i + half] = x[base + i + half] * c + x[base + i] * s;
      }
  return y;
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 300;
  int index = 0;
  for (float theta : {10000.0f, 500000.0f})
    for (int64_t h : {1, 3})
      for (int64_t d : {2, 16, 64}) {
        const int64_t n = d == 2 ? 7 : 173;  // 173x3x64 is big enough for the threaded path
        // Alternate out-of-place and in-place (y is x, dx is dy) calls.
        const bool in_place = index++ % 2 == 1;
        OpCase c{"rope",
                 std::to_string(n) + "x" + std::to_string(h) + "x" + std::to_string(d) + "_theta" +
                     std::to_string(int64_t(theta)) + (in_place ? "_inplace" : ""),
                 {{"x", random_tensor({n, h, d}, seed++)},
                  {"positions", random_ints({n}, seed++, 0, 4096), false}}};
        c.forward = [=](const Tensors& in) {
          Tensor y = in_place ? in[0].clone() : empty_like(in[0], in[0].shape());
          ops::rope_forward(in_place ? y : in[0], in[1], theta, y);
          return Tensors{y};
        };
        c.backward = [=](const Tensors& in, const Tensors& g) {
          Tensor dx = in_place ? g[0].clone() : empty_like(g[0], g[0].shape());
          ops::rope_backward(in_place ? dx : g[0], in[1], theta, dx);
          return Tensors{dx};
        };
        c.reference = [=](const std::vector<Values>& in) {
          return std::vector<Values>{rotate_ref(in[0], in[1], theta, 1.0, n, h, d)};
        };
        cases.push_back(c);
      }
  return cases;
}

CaseRegistrar registrar("rope", make_cases);

}  // namespace
}  // namespace neft::testing
