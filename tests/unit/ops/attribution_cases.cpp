// attribution_accumulate: out = init + sum over tokens of act * grad per column, signed or
// absolute. A scoring accumulator, not part of a backward pass, so it is checked forward
// only; the running total stays f32 on every run. 3x4099 and 1025x67 are big enough for the
// threaded CPU path; 0x5 adds nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "runtime/ops/attribution.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 900;
  for (bool absolute : {true, false})
    for (const Shape& s : {Shape{1, 1}, Shape{7, 173}, Shape{173, 7}, Shape{3, 4099},
                           Shape{1025, 67}, Shape{0, 5}}) {
      OpCase c{"attribution_accumulate",
               shape_name(s) + (absolute ? "_abs" : "_signed"),
               {{"act", random_tensor(s, seed++)},
                {"grad", random_tensor(s, seed++)},
                {"init", random_tensor({s[1]}, seed++)}}};
      c.forward = [absolute](const Tensors& in) {
        Tensor out = in[2].clone();
        ops::attribution_accumulate(in[0], in[1], out, absolute);
        return Tensors{out};
      };
      const int64_t N = s[0], U = s[1];
      c.reference = [absolute, N, U](const std::vector<Values>& in) {
        Values out = in[2];
        for (int64_t u = 0; u < U; ++u)
          for (int64_t n = 0; n < N; ++n) {
            const double p = in[0][size_t(n * U + u)] * in[1][size_t(n * U + u)];
            out[size_t(u)] += absolute ? std::abs(p) : p;
          }
        return std::vector<Values>{out};
      };
      c.keep_f32 = {false, false, true};
      cases.push_back(c);
    }
  return cases;
}

CaseRegistrar registrar("attribution_accumulate", make_cases);

TEST(AttributionAccumulate, CudaSameBitsEveryRun) {
  if (!cuda_available()) GTEST_SKIP() << "CUDA case skipped: " << cuda_unavailable_reason();
  const Shape s{1031, 97};
  for (DType dt : {DType::F32, DType::BF16}) {
    const Tensor a = Tensor::from_floats(random_tensor(s, 1).to_floats(), s, dt, Device::CUDA);
    const Tensor g = Tensor::from_floats(random_tensor(s, 2).to_floats(), s, dt, Device::CUDA);
    Tensor first = Tensor::zeros({s[1]}, DType::F32, Device::CUDA);
    ops::attribution_accumulate(a, g, first, false);
    const std::vector<float> want = first.to_floats();
    for (int run = 0; run < 3; ++run) {
      Tensor again = Tensor::zeros({s[1]}, DType::F32, Device::CUDA);
      ops::attribution_accumulate(a, g, again, false);
      const std::vector<float> got = again.to_floats();
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
          << dtype_name(dt);
    }
  }
}

TEST(AttributionAccumulate, MismatchedShapesAreAClearError) {
  Tensor a = Tensor::zeros({3, 4}, DType::F32), g = Tensor::zeros({3, 5}, DType::F32);
  Tensor out = Tensor::zeros({4}, DType::F32);
  try {
    ops::attribution_accumulate(a, g, out, true);
    FAIL() << "accepted grad of another shape";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("argument 'grad' has shape"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace neft::testing
