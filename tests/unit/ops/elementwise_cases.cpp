// Elementwise ops and the seeded random fills.
#include "runtime/ops/elementwise.h"
#include "runtime/rng.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

const std::vector<Shape> kShapes = {{1}, {7}, {173, 3}, {4099, 7}};

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  for (const Shape& s : kShapes) {
    OpCase add{"add", shape_name(s), {{"a", random_tensor(s, 1)}, {"b", random_tensor(s, 2)}}};
    add.forward = [](const Tensors& in) {
      Tensor out = empty_like(in[0], in[0].shape());
      ops::add(in[0], in[1], out);
      return Tensors{out};
    };
    add.backward = [](const Tensors&, const Tensors& g) {
      return Tensors{g[0].clone(), g[0].clone()};
    };
    add.reference = [](const std::vector<Values>& x) {
      Values y(x[0].size());
      for (size_t i = 0; i < y.size(); ++i) y[i] = x[0][i] + x[1][i];
      return std::vector<Values>{y};
    };
    cases.push_back(add);

    const float alpha = -0.75f;
    OpCase scale{"scale", shape_name(s), {{"x", random_tensor(s, 3)}}};
    scale.forward = [=](const Tensors& in) {
      Tensor y = in[0].clone();
      ops::scale(y, alpha);
      return Tensors{y};
    };
    scale.backward = [=](const Tensors&, const Tensors& g) {
      Tensor dx = g[0].clone();
      ops::scale(dx, alpha);
      return Tensors{dx};
    };
    scale.reference = [=](const std::vector<Values>& x) {
      Values y = x[0];
      for (double& v : y) v *= alpha;
      return std::vector<Values>{y};
    };
    cases.push_back(scale);

    // y_out = y + alpha x: dL/dx = alpha g, dL/dy = g.
    OpCase axpy{"axpy", shape_name(s), {{"x", random_tensor(s, 4)}, {"y", random_tensor(s, 5)}}};
    axpy.forward = [=](const Tensors& in) {
      Tensor y = in[1].clone();
      ops::axpy(alpha, in[0], y);
      return Tensors{y};
    };
    axpy.backward = [=](const Tensors&, const Tensors& g) {
      Tensor dx = g[0].clone();
      ops::scale(dx, alpha);
      return Tensors{dx, g[0].clone()};
    };
    axpy.reference = [=](const std::vector<Values>& x) {
      Values y = x[1];
      for (size_t i = 0; i < y.size(); ++i) y[i] += alpha * x[0][i];
      return std::vector<Values>{y};
    };
    cases.push_back(axpy);

    OpCase fill{"fill", shape_name(s), {{"x", random_tensor(s, 6), false}}};
    fill.forward = [](const Tensors& in) {
      Tensor y = in[0].clone();
      ops::fill(y, 0.3125f);
      return Tensors{y};
    };
    fill.reference = [](const std::vector<Values>& x) {
      return std::vector<Values>{Values(x[0].size(), 0.3125)};
    };
    cases.push_back(fill);

    // Random fills: the reference draws element by element from the scalar generator; CUDA
    // must give the same uniform values bitwise (cuda_f32 = 0) and normals to a few ulp.
    OpCase uniform{"fill_uniform", shape_name(s), {{"x", random_tensor(s, 7), false}}};
    uniform.forward = [](const Tensors& in) {
      Tensor y = in[0].clone();
      ops::fill_uniform(y, 42, 1000, -2.0f, 3.0f);
      return Tensors{y};
    };
    uniform.reference = [](const std::vector<Values>& x) {
      Values y(x[0].size());
      for (size_t i = 0; i < y.size(); ++i) y[i] = rng::uniform(42, 1000, i, -2.0f, 3.0f);
      return std::vector<Values>{y};
    };
    uniform.tol.forward = 0;
    uniform.tol.cuda_f32 = 0;
    uniform.tol.cuda_bf16 = 1e-2;  // CUDA writes bf16; the CPU side stays f32
    cases.push_back(uniform);

    OpCase normal{"fill_normal", shape_name(s), {{"x", random_tensor(s, 8), false}}};
    normal.forward = [](const Tensors& in) {
      Tensor y = in[0].clone();
      ops::fill_normal(y, 7, 3, 0.5f, 2.0f);
      return Tensors{y};
    };
    normal.reference = [](const std::vector<Values>& x) {
      Values y(x[0].size());
      for (size_t i = 0; i < y.size(); ++i) y[i] = 0.5f + 2.0f * rng::normal(7, 3, i);
      return std::vector<Values>{y};
    };
    normal.tol.forward = 0;
    normal.tol.cuda_f32 = 1e-6;
    normal.tol.cuda_bf16 = 1e-2;
    cases.push_back(normal);
  }
  // Dropout on a part of a wider whole (columns from col0), at p 0.3 and at p 0 (keeps every
  // entry, scale 1). The reference draws each entry's decision with the scalar rng::keep at
  // its whole index; CUDA must keep the same entries and scale them by the same float, so in
  // f32 it is bitwise the CPU's. Its backward is itself on the gradient (the mask held fixed).
  for (const Shape& s : std::vector<Shape>{{1, 1}, {7, 173}, {173, 3}, {4099, 7}})
    for (float p : {0.3f, 0.0f}) {
      ops::DropoutMask mask;
      mask.p = p;
      mask.seed = 99;
      mask.offset = 5;
      mask.col0 = 5;
      mask.full_cols = s[1] + 11;
      OpCase drop{
          "dropout", shape_name(s) + (p > 0 ? "_p0.3" : "_p0"), {{"x", random_tensor(s, 9)}}};
      drop.forward = [=](const Tensors& in) {
        Tensor y = empty_like(in[0], in[0].shape());
        ops::dropout(in[0], mask, y);
        return Tensors{y};
      };
      drop.backward = [=](const Tensors&, const Tensors& g) {
        Tensor dx = g[0].clone();
        ops::dropout(dx, mask, dx);  // in place, as LoRA's backward runs it
        return Tensors{dx};
      };
      drop.reference = [=](const std::vector<Values>& x) {
        const size_t cols = size_t(s[1]);
        Values y(x[0].size());
        for (size_t i = 0; i < y.size(); ++i) {
          const uint64_t whole =
              i / cols * uint64_t(mask.full_cols) + uint64_t(mask.col0) + i % cols;
          y[i] = rng::keep(mask.seed, mask.offset, whole, p) ? x[0][i] * double(mask.scale()) : 0;
        }
        return std::vector<Values>{y};
      };
      drop.tol.cuda_f32 = 0;
      cases.push_back(drop);
    }
  return cases;
}

CaseRegistrar registrar("elementwise", make_cases);

}  // namespace
}  // namespace neft::testing
