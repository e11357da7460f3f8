// Float casts. Harness cases round-trip f32 -> bf16 -> f32 (and through f16) against a
// reference that rounds in double with frexp/ldexp; a plain test checks special values
// (NaN, inf, overflow, ties, subnormals) bit for bit, and CUDA against CPU.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "runtime/ops/cast.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

// A binary float format: p significant bits (with the implicit one), smallest normal
// exponent emin (values are f * 2^e with 1 <= f < 2), largest finite value.
struct Format {
  int p, emin;
  double max;
};
const Format kBF16{8, -126, (2.0 - std::ldexp(1.0, -7)) * std::ldexp(1.0, 127)};
const Format kF16{11, -14, 65504.0};

// Round to nearest, ties to even: scale so the format's quantum at x's exponent is 1, round
// to an integer (nearbyint rounds half to even), scale back. Below the normal range the
// quantum stays that of emin, which is what gives subnormals.
double round_to(double x, Format f) {
  if (x == 0 || !std::isfinite(x)) return x;
  int e;
  std::frexp(x, &e);  // x = m * 2^e with 0.5 <= |m| < 1: the leading bit is 2^(e-1)
  const int quantum_exp = std::max(e - 1, f.emin) - (f.p - 1);
  const double r = std::ldexp(std::nearbyint(std::ldexp(x, -quantum_exp)), quantum_exp);
  if (std::abs(r) > f.max) return std::copysign(INFINITY, x);
  return r == 0 ? std::copysign(0.0, x) : r;
}

// Values that exercise the rounding: wide exponents, exact ties (halfway between two
// neighbours of the target format), the target's subnormals, plain values.
Tensor rounding_inputs(const Shape& s, Format f, int max_exp, uint64_t seed) {
  std::mt19937 gen(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::uniform_int_distribution<int> expo(f.emin - 10, max_exp);
  std::uniform_int_distribution<int> odd(0, (1 << (f.p - 1)) - 1);
  std::vector<float> v(size_t(numel(s)));
  for (size_t i = 0; i < v.size(); ++i) {
    const double sign = (i / 4) % 2 ? -1.0 : 1.0;
    switch (i % 4) {
      case 0:
        v[i] = float(std::ldexp(unit(gen), expo(gen)));
        break;
      case 1:  // 1 + (2m + 1) / 2^p: exactly halfway between two values with p bits
        v[i] = float(sign * std::ldexp(1.0 + (2 * odd(gen) + 1) * std::ldexp(1.0, -f.p),
                                       std::uniform_int_distribution<int>(-8, 8)(gen)));
        break;
      case 2:
        v[i] =
            float(std::ldexp(unit(gen), f.emin - std::uniform_int_distribution<int>(0, 12)(gen)));
        break;
      default:
        v[i] = float(unit(gen));
    }
  }
  return Tensor::from_floats(v, s);
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 500;
  for (const Shape& s : {Shape{1}, Shape{7}, Shape{173, 3}, Shape{4099, 7}}) {
    for (DType via : {DType::BF16, DType::F16}) {
      const Format f = via == DType::BF16 ? kBF16 : kF16;
      // f16 tops out at 65504: keep the inputs below 2^15 so none overflows.
      const int max_exp = via == DType::BF16 ? 60 : 15;
      OpCase c{"cast",
               std::string("f32_") + dtype_name(via) + "_f32_" + shape_name(s),
               {{"x", rounding_inputs(s, f, max_exp, seed++), false}}};
      c.forward = [via](const Tensors& in) {
        Tensor low = empty_as(in[0], in[0].shape(), via);
        ops::cast(in[0], low);
        Tensor back = empty_as(in[0], in[0].shape(), DType::F32);
        ops::cast(low, back);
        return Tensors{back};
      };
      c.reference = [f](const std::vector<Values>& in) {
        Values y(in[0].size());
        for (size_t i = 0; i < y.size(); ++i) y[i] = round_to(in[0][i], f);
        return std::vector<Values>{y};
      };
      // Rounding is exact arithmetic: every case must match to the bit.
      c.tol.forward = 0;
      c.tol.cuda_f32 = 0;
      c.tol.cuda_bf16 = 0;
      cases.push_back(c);
    }
  }
  return cases;
}

CaseRegistrar registrar("cast", make_cases);

// Raw bit patterns of a tensor (any dtype, any device), widened to 32 bits.
std::vector<uint32_t> bits_of(const Tensor& t) {
  const Tensor h = t.to(Device::CPU);
  std::vector<uint32_t> out(size_t(h.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (h.dtype() == DType::F32) {
      std::memcpy(&out[i], h.data<float>() + i, 4);
    } else {
      uint16_t b;
      std::memcpy(&b, static_cast<const char*>(h.raw()) + 2 * i, 2);
      out[i] = b;
    }
  }
  return out;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<float> special_values() {
  const float tie_bf16 = 1.0f + std::ldexp(1.0f, -8), tie_f16 = 1.0f + std::ldexp(1.0f, -11);
  return {0.0f,
          -0.0f,
          INFINITY,
          -INFINITY,
          std::numeric_limits<float>::quiet_NaN(),
          -std::numeric_limits<float>::quiet_NaN(),
          from_bits(0x7f800001u),  // signalling NaN
          from_bits(0x7fc12345u),  // NaN with a payload
          FLT_MAX,
          -FLT_MAX,
          from_bits(0x7f7f8000u),
          from_bits(0x7f7f7fffu),  // bf16 overflow edge
          65504.0f,
          65519.996f,
          65520.0f,
          -65520.0f,
          1e30f,  // f16 overflow edge
          tie_bf16,
          1.0f + 3 * std::ldexp(1.0f, -8),
          -tie_bf16,  // bf16 ties
          tie_f16,
          1.0f + 3 * std::ldexp(1.0f, -11),
          -tie_f16,  // f16 ties
          std::ldexp(1.0f, -24),
          std::ldexp(1.0f, -25),
          3 * std::ldexp(1.0f, -25),  // f16 subnormals
          std::ldexp(1.0f, -26),
          5 * std::ldexp(1.0f, -26),
          std::ldexp(1.0f, -14),
          std::ldexp(1023.0f, -24),
          std::ldexp(2047.0f, -25),  // largest f16 subnormal, and a tie onto 2^-14
          FLT_MIN,
          from_bits(1u),
          from_bits(0x00400000u),
          from_bits(0x00018000u),  // f32 subnormals
          -from_bits(0x00008000u),
          0.1f,
          -3.14159265f,
          1.0f / 3.0f};
}

// Every direction between the float dtypes on CPU against the independent rounding, and
// CUDA against CPU bit for bit (NaN included).
TEST(CastSpecialValues, BitwiseAcrossDevices) {
  const std::vector<float> v = special_values();
  const int64_t n = int64_t(v.size());
  const Tensor f32 = Tensor::from_floats(v, {n});
  const DType all[3] = {DType::F32, DType::BF16, DType::F16};
  for (DType from : all) {
    // The source: the special values as `from` holds them (through the CPU cast).
    Tensor src = Tensor::empty({n}, from);
    ops::cast(f32, src);
    const std::vector<float> src_values = src.to_floats();
    for (DType to : all) {
      SCOPED_TRACE(std::string(dtype_name(from)) + " -> " + dtype_name(to));
      Tensor dst = Tensor::empty({n}, to);
      ops::cast(src, dst);
      const std::vector<float> got = dst.to_floats();
      for (int64_t i = 0; i < n; ++i) {
        const double x = src_values[size_t(i)];
        if (std::isnan(x)) {
          EXPECT_TRUE(std::isnan(got[size_t(i)])) << "element " << i;
          EXPECT_EQ(std::signbit(got[size_t(i)]), std::signbit(x)) << "sign of NaN " << i;
          continue;
        }
        const double want = to == DType::F32 ? x : round_to(x, to == DType::BF16 ? kBF16 : kF16);
        EXPECT_EQ(double(got[size_t(i)]), want) << "element " << i << " = " << x;
        EXPECT_EQ(std::signbit(got[size_t(i)]), std::signbit(want)) << "sign of element " << i;
      }
      if (!cuda_available()) continue;
      Tensor dst_cuda = Tensor::empty({n}, to, Device::CUDA);
      ops::cast(src.to(Device::CUDA), dst_cuda);
      EXPECT_EQ(bits_of(dst_cuda), bits_of(dst)) << "CUDA and CPU bits differ";
    }
  }
  if (!cuda_available())
    GTEST_SKIP() << "CPU checked; CUDA part skipped: " << cuda_unavailable_reason();
}

// The rounding rule itself, on values whose results are known by hand.
TEST(CastSpecialValues, ReferenceRoundingByHand) {
  EXPECT_EQ(round_to(1.0 + std::ldexp(1.0, -8), kBF16), 1.0);  // tie, down to even
  EXPECT_EQ(round_to(1.0 + 3 * std::ldexp(1.0, -8), kBF16), 1.0 + std::ldexp(1.0, -6));  // tie, up
  EXPECT_EQ(round_to(65519.0, kF16), 65504.0);
  EXPECT_EQ(round_to(65520.0, kF16), INFINITY);
  EXPECT_EQ(round_to(std::ldexp(1.0, -25), kF16), 0.0);  // tie between 0 and 2^-24
  EXPECT_EQ(round_to(3 * std::ldexp(1.0, -25), kF16), std::ldexp(1.0, -23));
}

}  // namespace
}  // namespace neft::testing
