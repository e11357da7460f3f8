// GEMM: every transpose combination, odd M/N/K, a long reduction, scaled and accumulating
// forms, strided batches and (on CUDA) bf16 inputs into an f32 C.
#include "runtime/ops/elementwise.h"
#include "runtime/ops/gemm.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

struct Spec {
  int64_t batch;  // 0: plain 2-D tensors
  int64_t m, n, k;
  bool trans_a, trans_b;
  float alpha = 1.0f, beta = 0.0f;
  bool c_f32 = false;  // C stays f32 when A and B are bf16 (the mixed-precision path)
};

const std::vector<Spec> kSpecs = {
    {0, 1, 7, 173, false, false},
    {0, 7, 1, 173, false, true},
    {0, 173, 7, 1, true, false},
    {0, 7, 173, 7, true, true, 0.5f, -0.25f},
    {0, 173, 173, 7, false, false, -1.5f, 0.75f, true},
    {0, 7, 17, 4099, false, true},
    {0, 7, 173, 17, true, false, 1.0f, 0.0f, true},
    {0, 7, 17, 4099, true, false, 2.0f, 1.0f},
    {0, 1, 1, 1, true, true, 1.0f, 1.0f},
    {3, 7, 173, 17, false, false},
    {2, 17, 7, 173, true, true, 0.75f, 0.5f, true},
    {4, 1, 7, 7, false, true, 1.0f, 1.0f},
};

Shape with_batch(int64_t batch, int64_t rows, int64_t cols) {
  return batch ? Shape{batch, rows, cols} : Shape{rows, cols};
}

std::string name(const Spec& s) {
  std::string n;
  if (s.batch) n += 'b' + std::to_string(s.batch) + '_';
  n += std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
  n += s.trans_a ? "_T" : "_N";
  n += s.trans_b ? "T" : "N";
  if (s.alpha != 1.0f || s.beta != 0.0f) n += "_scaled";
  if (s.c_f32) n += "_cf32";
  return n;
}

// `g` in the dtype of `like`: the gradient of an f32 C meets bf16 A and B in backward.
Tensor as_dtype_of(const Tensor& g, const Tensor& like) {
  if (g.dtype() == like.dtype()) return g;
  return Tensor::from_floats(g.to_floats(), g.shape(), like.dtype(), like.device());
}

OpCase make_case(const Spec& s) {
  const int64_t bt = s.batch ? s.batch : 1;
  const Shape a_shape = s.trans_a ? with_batch(s.batch, s.k, s.m) : with_batch(s.batch, s.m, s.k);
  const Shape b_shape = s.trans_b ? with_batch(s.batch, s.n, s.k) : with_batch(s.batch, s.k, s.n);
  const Shape c_shape = with_batch(s.batch, s.m, s.n);
  const bool uses_c = s.beta != 0.0f;

  OpCase c{"gemm", name(s), {{"a", random_tensor(a_shape, 11)}, {"b", random_tensor(b_shape, 12)}}};
  if (uses_c) c.inputs.push_back({"c", random_tensor(c_shape, 13)});
  if (s.c_f32) c.keep_f32 = {false, false, true};

  c.forward = [=](const Tensors& in) {
    Tensor out;
    if (uses_c)
      out = in[2].clone();
    else
      out = empty_as(in[0], c_shape, s.c_f32 ? DType::F32 : in[0].dtype());
    ops::gemm(in[0], s.trans_a, in[1], s.trans_b, out, s.alpha, s.beta);
    return Tensors{out};
  };

  // C = alpha op(A) op(B) + beta C0:  d op(A) = alpha g op(B)^T,  d op(B) = alpha op(A)^T g,
  // dC0 = beta g; a transposed operand takes the transpose of its op's gradient.
  c.backward = [=](const Tensors& in, const Tensors& grad) {
    const Tensor& a = in[0];
    const Tensor& b = in[1];
    const Tensor g = as_dtype_of(grad[0], a);
    Tensor da = empty_like(a, a.shape()), db = empty_like(b, b.shape());
    if (s.trans_a)
      ops::gemm(b, s.trans_b, g, true, da, s.alpha, 0.0f);
    else
      ops::gemm(g, false, b, !s.trans_b, da, s.alpha, 0.0f);
    if (s.trans_b)
      ops::gemm(g, true, a, s.trans_a, db, s.alpha, 0.0f);
    else
      ops::gemm(a, !s.trans_a, g, false, db, s.alpha, 0.0f);
    Tensors grads{da, db};
    if (uses_c) {
      Tensor dc =
          Tensor::from_floats(grad[0].to_floats(), in[2].shape(), in[2].dtype(), in[2].device());
      ops::scale(dc, s.beta);
      grads.push_back(dc);
    }
    return grads;
  };

  c.reference = [=](const std::vector<Values>& x) {
    Values y(size_t(bt * s.m * s.n));
    for (int64_t p = 0; p < bt; ++p) {
      const double* a = x[0].data() + p * s.m * s.k;
      const double* b = x[1].data() + p * s.k * s.n;
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) {
          double acc = 0;
          for (int64_t l = 0; l < s.k; ++l)
            acc += (s.trans_a ? a[l * s.m + i] : a[i * s.k + l]) *
                   (s.trans_b ? b[j * s.k + l] : b[l * s.n + j]);
          const size_t o = size_t((p * s.m + i) * s.n + j);
          y[o] = double(s.alpha) * acc + (uses_c ? double(s.beta) * x[2][o] : 0.0);
        }
    }
    return std::vector<Values>{y};
  };
  return c;
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  for (const Spec& s : kSpecs) cases.push_back(make_case(s));
  return cases;
}

CaseRegistrar registrar("gemm", make_cases);

}  // namespace
}  // namespace neft::testing
