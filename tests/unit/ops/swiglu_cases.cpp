// SwiGLU, inputs spread over [-6, 6] so that both tails of the sigmoid are exercised.
// 17x4099 is big enough for the threaded CPU path.
#include <cmath>

#include "runtime/ops/swiglu.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 500;
  for (auto [n, f] : {std::pair<int64_t, int64_t>{7, 173}, {1, 4099}, {173, 7}, {17, 4099}}) {
    OpCase c{"swiglu",
             std::to_string(n) + "x" + std::to_string(f),
             {{"gate", random_tensor({n, f}, seed++, -6.0f, 6.0f)},
              {"up", random_tensor({n, f}, seed++, -6.0f, 6.0f)}}};
    c.forward = [](const Tensors& in) {
      Tensor h = empty_like(in[0], in[0].shape());
      ops::swiglu_forward(in[0], in[1], h);
      return Tensors{h};
    };
    c.backward = [](const Tensors& in, const Tensors& g) {
      Tensor dgate = empty_like(in[0], in[0].shape()), dup = empty_like(in[0], in[0].shape());
      ops::swiglu_backward(g[0], in[0], in[1], dgate, dup);
      return Tensors{dgate, dup};
    };
    c.reference = [](const std::vector<Values>& in) {
      Values h(in[0].size());
      for (size_t i = 0; i < h.size(); ++i) {
        const double g = in[0][i];
        h[i] = g / (1.0 + std::exp(-g)) * in[1][i];
      }
      return std::vector<Values>{h};
    };
    cases.push_back(c);
  }
  return cases;
}

CaseRegistrar registrar("swiglu", make_cases);

}  // namespace
}  // namespace neft::testing
