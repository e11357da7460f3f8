#include "tests/unit/op_harness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "runtime/device.h"

namespace neft::testing {

namespace {

std::map<std::string, CaseFactory>& factories() {
  static std::map<std::string, CaseFactory> f;
  return f;
}

Values values_of(const Tensor& t) {
  const std::vector<float> f = t.to_floats();
  return Values(f.begin(), f.end());
}

// The inputs as the device and dtype under test see them.
Tensors inputs_on(const OpCase& c, Device device, DType float_dtype) {
  Tensors out;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor& t = c.inputs[i].value;
    const bool keep = i < c.keep_f32.size() && c.keep_f32[i];
    const DType dt = is_floating(t.dtype()) && !keep ? float_dtype : t.dtype();
    out.push_back(dt == t.dtype() ? t.to(device)
                                  : Tensor::from_floats(t.to_floats(), t.shape(), dt, device));
  }
  return out;
}

bool output_in_loss(const OpCase& c, size_t k) {
  return k >= c.output_differentiable.size() || c.output_differentiable[k];
}

// L = sum over differentiable outputs of g · out, in double.
double loss_of(const OpCase& c, const std::vector<Values>& outs, const std::vector<Values>& g) {
  double l = 0;
  for (size_t k = 0; k < outs.size(); ++k)
    if (output_in_loss(c, k))
      for (size_t i = 0; i < outs[k].size(); ++i) l += g[k][i] * outs[k][i];
  return l;
}

// max |a - b| / max |b| (b is the trusted side). The scale has a floor so that an output
// that is exactly zero (the gradient of a one-token attention, say) accepts rounding noise
// instead of dividing by nothing; an empty b compares equal.
double relative_error(const Values& a, const Values& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return diff / std::max(scale, 1e-3);
}

class OpTest : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpTest, CpuForwardMatchesReference) {
  const OpCase& c = GetParam();
  const Tensors out = c.forward(inputs_on(c, Device::CPU, DType::F32));
  std::vector<Values> in_values;
  for (const Input& in : c.inputs) in_values.push_back(values_of(in.value));
  const std::vector<Values> ref = c.reference(in_values);
  ASSERT_EQ(out.size(), ref.size()) << "forward and reference return different output counts";
  for (size_t k = 0; k < out.size(); ++k) {
    ASSERT_EQ(size_t(out[k].numel()), ref[k].size()) << "output " << k << " size";
    EXPECT_LE(relative_error(values_of(out[k]), ref[k]), c.tol.forward) << "output " << k;
  }
}

TEST_P(OpTest, CpuBackwardMatchesFiniteDifferences) {
  const OpCase& c = GetParam();
  if (!c.backward) GTEST_SKIP() << c.op << " has no backward (not a differentiable op)";
  std::vector<Values> x;
  for (const Input& in : c.inputs) x.push_back(values_of(in.value));
  const std::vector<Values> y = c.reference(x);

  // Random output cotangents g, and our analytic gradients for them.
  std::mt19937_64 gen(1234);
  std::uniform_real_distribution<double> unif(-1.0, 1.0);
  std::vector<Values> g(y.size());
  Tensors grad_out;
  const Tensors cpu_in = inputs_on(c, Device::CPU, DType::F32);
  const Tensors fwd = c.forward(cpu_in);
  for (size_t k = 0; k < y.size(); ++k) {
    g[k].resize(y[k].size());
    for (double& v : g[k]) v = output_in_loss(c, k) ? unif(gen) : 0.0;
    grad_out.push_back(
        Tensor::from_floats(std::vector<float>(g[k].begin(), g[k].end()), fwd[k].shape()));
    g[k] = values_of(grad_out.back());  // exactly what backward sees
  }
  const Tensors grads = c.backward(cpu_in, grad_out);

  size_t gi = 0;
  for (size_t j = 0; j < c.inputs.size(); ++j) {
    if (!c.inputs[j].differentiable) continue;
    ASSERT_LT(gi, grads.size()) << "backward returned too few gradients";
    const Values grad = values_of(grads[gi++]);
    ASSERT_EQ(grad.size(), x[j].size())
        << "gradient of " << c.inputs[j].name << " has the wrong size";
    const double n = double(grad.size());
    double grad_norm = 0;
    for (double v : grad) grad_norm += v * v;
    grad_norm = std::sqrt(grad_norm);

    auto loss_at = [&](const Values& xj) {
      std::vector<Values> xx = x;
      xx[j] = xj;
      return loss_of(c, c.reference(xx), g);
    };
    const double eps = 1e-4;

    // Random direction u: (L(x + eps u) - L(x - eps u)) / 2 eps against <grad, u>.
    Values u(x[j].size()), plus = x[j], minus = x[j];
    double u_norm = 0;
    for (size_t i = 0; i < u.size(); ++i) {
      u[i] = unif(gen);
      u_norm += u[i] * u[i];
      plus[i] += eps * u[i];
      minus[i] -= eps * u[i];
    }
    u_norm = std::sqrt(u_norm);
    const double numeric = (loss_at(plus) - loss_at(minus)) / (2 * eps);
    double analytic = 0;
    for (size_t i = 0; i < u.size(); ++i) analytic += grad[i] * u[i];
    // The size <grad, u> typically has for a random u; a wrong gradient errs by that much.
    const double typical = std::max(grad_norm * u_norm / std::sqrt(std::max(n, 1.0)), 1e-9);
    EXPECT_LE(std::abs(numeric - analytic), c.tol.finite_diff * typical)
        << "d/d" << c.inputs[j].name << " along a random direction: numeric " << numeric
        << " vs backward " << analytic;

    // A few single coordinates, the largest gradient among them.
    std::vector<size_t> coords;
    if (!grad.empty()) {
      coords.push_back(
          size_t(std::max_element(grad.begin(), grad.end(),
                                  [](double a, double b) { return std::abs(a) < std::abs(b); }) -
                 grad.begin()));
      std::uniform_int_distribution<size_t> pick(0, grad.size() - 1);
      for (int r = 0; r < 3; ++r) coords.push_back(pick(gen));
    }
    const double rms = grad_norm / std::sqrt(std::max(n, 1.0));
    for (size_t i : coords) {
      Values p = x[j], m = x[j];
      p[i] += eps;
      m[i] -= eps;
      const double num_i = (loss_at(p) - loss_at(m)) / (2 * eps);
      EXPECT_LE(std::abs(num_i - grad[i]), c.tol.finite_diff * std::max(rms, 1e-9) + 1e-7)
          << "d/d" << c.inputs[j].name << "[" << i << "]: numeric " << num_i << " vs backward "
          << grad[i];
    }
  }
}

void cuda_matches_cpu(const OpCase& c, DType dtype, double tol) {
  if (!cuda_available()) GTEST_SKIP() << "CUDA case skipped: " << cuda_unavailable_reason();
  // Reference: CPU f32 on the same (possibly bf16-rounded) input values.
  Tensors cuda_in = inputs_on(c, Device::CUDA, dtype);
  Tensors cpu_in;
  for (const Tensor& t : cuda_in)
    cpu_in.push_back(is_floating(t.dtype()) ? Tensor::from_floats(t.to_floats(), t.shape())
                                            : t.to(Device::CPU));
  const Tensors cpu_out = c.forward(cpu_in);
  const Tensors cuda_out = c.forward(cuda_in);
  ASSERT_EQ(cpu_out.size(), cuda_out.size());
  for (size_t k = 0; k < cpu_out.size(); ++k)
    EXPECT_LE(relative_error(values_of(cuda_out[k]), values_of(cpu_out[k])), tol)
        << "forward output " << k << " in " << dtype_name(dtype);
  if (!c.backward) return;
  Tensors g_cpu, g_cuda;
  for (size_t k = 0; k < cpu_out.size(); ++k) {
    Tensor g = random_tensor(cpu_out[k].shape(), 99 + k);
    if (!output_in_loss(c, k)) g.zero_();
    const DType gd = is_floating(cuda_out[k].dtype()) ? cuda_out[k].dtype() : DType::F32;
    g_cuda.push_back(Tensor::from_floats(g.to_floats(), g.shape(), gd, Device::CUDA));
    g_cpu.push_back(Tensor::from_floats(g_cuda.back().to_floats(), g.shape()));
  }
  const Tensors gc = c.backward(cpu_in, g_cpu);
  const Tensors gg = c.backward(cuda_in, g_cuda);
  ASSERT_EQ(gc.size(), gg.size());
  for (size_t k = 0; k < gc.size(); ++k)
    EXPECT_LE(relative_error(values_of(gg[k]), values_of(gc[k])), tol)
        << "gradient " << k << " in " << dtype_name(dtype);
}

TEST_P(OpTest, CudaMatchesCpuF32) {
  cuda_matches_cpu(GetParam(), DType::F32, GetParam().tol.cuda_f32);
}

TEST_P(OpTest, CudaMatchesCpuBF16) {
  if (!GetParam().cuda_bf16) GTEST_SKIP() << GetParam().op << " has no bf16 form";
  cuda_matches_cpu(GetParam(), DType::BF16, GetParam().tol.cuda_bf16);
}

INSTANTIATE_TEST_SUITE_P(Ops, OpTest, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<OpCase>& info) {
                           std::string name = info.param.op + "_" + info.param.shape;
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

}  // namespace

CaseRegistrar::CaseRegistrar(const char* op, CaseFactory factory) {
  factories()[op] = std::move(factory);
}

const std::vector<OpCase>& all_cases() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> all;
    for (auto& [op, make] : factories())
      for (OpCase& c : make()) all.push_back(std::move(c));
    return all;
  }();
  return cases;
}

std::vector<std::string> registered_ops() {
  std::vector<std::string> names;
  for (const OpCase& c : all_cases())
    if (std::find(names.begin(), names.end(), c.op) == names.end()) names.push_back(c.op);
  return names;
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  std::mt19937 gen(uint32_t(seed * 7919 + 17));
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(size_t(numel(shape)));
  for (float& x : v) x = d(gen);
  return Tensor::from_floats(v, shape);
}

Tensor random_ints(const Shape& shape, uint64_t seed, int32_t lo, int32_t hi) {
  std::mt19937 gen(uint32_t(seed * 104729 + 3));
  std::uniform_int_distribution<int32_t> d(lo, hi - 1);
  std::vector<int32_t> v(size_t(numel(shape)));
  for (int32_t& x : v) x = d(gen);
  return Tensor::from_ints(v, shape);
}

std::string shape_name(const Shape& s) {
  std::string n;
  for (int64_t d : s) n += (n.empty() ? "" : "x") + std::to_string(d);
  return n;
}

Tensor empty_like(const Tensor& like, const Shape& shape) {
  return Tensor::empty(shape, like.dtype(), like.device());
}

Tensor empty_as(const Tensor& like, const Shape& shape, DType dtype) {
  return Tensor::empty(shape, dtype, like.device());
}

}  // namespace neft::testing
