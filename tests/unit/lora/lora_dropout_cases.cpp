// One LoRA adapter with dropout in a training forward, y = (alpha / r) B A dropout(x), in the op
// harness (tests/unit/op_harness.h): its output against a double reference that draws the same
// mask (rng::keep at each entry's whole index), and its gradients of x, A and B against finite
// differences of that reference, the mask held fixed by the key. On a column-parallel base
// (the input whole) and a row-parallel one (at tp 1 its columns start at 0), at p 0.4.
#include <array>
#include <memory>
#include <optional>

#include "lora/lora_adapter.h"
#include "runtime/ops/elementwise.h"
#include "runtime/rng.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

constexpr float kP = 0.4f;
constexpr double kAlpha = 6;
const std::optional<model::MicroBatchKey> kKey = model::MicroBatchKey{2, 1};
constexpr int64_t kLayer = 1, kTarget = 3;
constexpr uint64_t kSeed = 17;

// An adapter of rank r on a base [out, in] of x's device and dtype, with A and B from the
// inputs and zero gradients, dropping its input as a training forward keyed by kKey does.
std::unique_ptr<lora::LoraAdapter> adapter(const Tensors& in, lora::BaseLayer layer,
                                           const model::TensorParallel& tp) {
  const Tensor &a = in[1], &b = in[2];
  const int64_t r = a.size(0), input = a.size(1), out = b.size(0);
  Parameter base{"model.layers.1.self_attn.o_proj.weight", empty_like(in[0], {out, input}),
                 Tensor(), true};
  base.full_shape = {out, input};
  auto l = std::make_unique<lora::LoraAdapter>(base, layer, tp, r, kAlpha);
  l->a().value.copy_from(a);
  l->b().value.copy_from(b);
  for (Parameter* p : l->parameters()) {
    p->grad = empty_as(a, p->value.shape(), DType::F32);
    ops::fill(p->grad, 0.0f);
  }
  l->set_dropout({kP, kSeed, kLayer, kTarget, &kKey, std::make_shared<lora::DropoutBuffer>()});
  return l;
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 900;
  for (lora::BaseLayer layer : {lora::BaseLayer::Column, lora::BaseLayer::Row})
    for (auto [N, in, out, r] : {std::array<int64_t, 4>{7, 13, 5, 3}, {33, 64, 48, 4}}) {
      const std::string kind = layer == lora::BaseLayer::Column ? "column_" : "row_";
      OpCase c{"lora_dropout",
               kind + shape_name({N, in}) + "_out" + std::to_string(out) + "_r" + std::to_string(r),
               {{"x", random_tensor({N, in}, seed++)},
                {"A", random_tensor({r, in}, seed++)},
                {"B", random_tensor({out, r}, seed++)}}};
      c.forward = [=](const Tensors& t) {
        const model::TensorParallel tp;
        auto l = adapter(t, layer, tp);
        Tensor y = empty_like(t[0], {N, out});
        ops::fill(y, 0.0f);
        l->forward(t[0], y);
        return Tensors{y};
      };
      c.backward = [=](const Tensors& t, const Tensors& g) {
        const model::TensorParallel tp;
        auto l = adapter(t, layer, tp);
        Tensor y = empty_like(t[0], {N, out}), dx = empty_like(t[0], {N, in});
        ops::fill(y, 0.0f);
        ops::fill(dx, 0.0f);
        l->forward(t[0], y);
        l->backward(g[0], t[0], &dx);
        return Tensors{dx, l->a().grad.clone(), l->b().grad.clone()};
      };
      c.reference = [=](const std::vector<Values>& v) {
        const Values &x = v[0], &a = v[1], &b = v[2];
        const ops::DropoutMask m = lora::dropout_mask(kP, kSeed, *kKey, kLayer, kTarget, in, 0);
        Values xd(x.size()), u(size_t(N * r), 0.0), y(size_t(N * out), 0.0);
        for (size_t i = 0; i < x.size(); ++i)
          xd[i] = rng::keep(m.seed, m.offset, i, kP) ? x[i] * double(m.scale()) : 0.0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t k = 0; k < r; ++k)
            for (int64_t j = 0; j < in; ++j)
              u[size_t(n * r + k)] += xd[size_t(n * in + j)] * a[size_t(k * in + j)];
        const double s = kAlpha / double(r);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t o = 0; o < out; ++o)
            for (int64_t k = 0; k < r; ++k)
              y[size_t(n * out + o)] += s * u[size_t(n * r + k)] * b[size_t(o * r + k)];
        return std::vector<Values>{y};
      };
      cases.push_back(c);
    }
  return cases;
}

CaseRegistrar registrar("lora_dropout", make_cases);

}  // namespace
}  // namespace neft::testing
