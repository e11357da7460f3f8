// Causal grouped-query attention: outputs out and lse; lse is checked in the forward but
// kept out of the loss for the gradient checks (backward takes no lse gradient). Cases with
// documents pack several into a row (doc_start, an index input) with boundaries inside,
// at and across the kernels' tiles (64 on the CPU, 32 or 64 on CUDA), one-token documents
// (padding) and a row that is one document.
#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/ops/attention.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

struct Config {
  int64_t B, T, Hq, Hkv, D;
  // Document lengths of every row, cycled until T is filled; empty: plain causal.
  std::vector<int64_t> docs = {};
};

// Odd lengths (1, 7, 173, 300: partial tiles, several tiles) against every head layout
// (plain, grouped, one shared kv head) and every head dim the CUDA kernels instantiate.
const std::vector<Config> kConfigs = {
    {1, 1, 2, 2, 16},
    {2, 1, 6, 1, 64},
    {2, 7, 4, 2, 16},
    {1, 7, 6, 1, 64},
    {2, 7, 2, 2, 64},
    {1, 173, 4, 2, 16},
    {2, 173, 6, 1, 16},
    {1, 173, 2, 2, 64},
    {2, 173, 4, 2, 64},
    {1, 300, 4, 2, 16},
    {1, 37, 4, 2, 32},
    {1, 45, 2, 1, 80},
    {2, 40, 4, 4, 96},
    {1, 70, 2, 1, 128},
    // Documents: every token alone; short ones; boundaries at 64 and 128 and just off them;
    // long documents spanning tiles (the last cut by T); the second row shifted by the cycle.
    {2, 7, 4, 2, 16, {1}},
    {2, 37, 4, 2, 32, {5, 1, 9}},
    {2, 173, 4, 2, 16, {64, 63, 1, 45}},
    {1, 173, 6, 1, 64, {100, 2}},
    {2, 300, 4, 2, 16, {129, 30, 97, 1}},
    {1, 300, 2, 2, 64, {300}},
    {2, 70, 2, 1, 128, {33, 20}},
};

// The start of each token's document, [B, T]: documents of c.docs' lengths in turn, the
// cycle carried on from row to row so the rows differ.
std::vector<int32_t> doc_starts(const Config& c) {
  std::vector<int32_t> s(size_t(c.B * c.T));
  size_t next = 0;
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t t = 0, start = 0, left = 0; t < c.T; ++t, --left) {
      if (left == 0) start = t, left = c.docs[next++ % c.docs.size()];
      s[size_t(b * c.T + t)] = int32_t(start);
    }
  return s;
}

std::string name(const Config& c) {
  std::string n = "B" + std::to_string(c.B) + "_T" + std::to_string(c.T) + "_H" +
                  std::to_string(c.Hq) + "x" + std::to_string(c.Hkv) + "_D" + std::to_string(c.D);
  if (!c.docs.empty()) {
    n += "_docs";
    for (int64_t len : c.docs) n += "_" + std::to_string(len);
  }
  return n;
}

// Straight from the definition: for each (b, h, i) a masked softmax over the keys j <= i of
// its document (from x[3], the starts, when given).
std::vector<Values> reference(const Config& c, const std::vector<Values>& x) {
  const Values &q = x[0], &k = x[1], &v = x[2];
  auto start = [&](int64_t b, int64_t i) {
    return x.size() > 3 ? int64_t(x[3][size_t(b * c.T + i)]) : int64_t(0);
  };
  Values out(size_t(c.B * c.T * c.Hq * c.D)), lse(size_t(c.B * c.Hq * c.T));
  const double scale = 1.0 / std::sqrt(double(c.D));
  std::vector<double> s(size_t(c.T));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.Hq; ++h) {
      const int64_t g = h / (c.Hq / c.Hkv);
      for (int64_t i = 0; i < c.T; ++i) {
        const size_t qi = size_t(((b * c.T + i) * c.Hq + h) * c.D);
        double m = -std::numeric_limits<double>::infinity();
        const int64_t j0 = start(b, i);
        for (int64_t j = j0; j <= i; ++j) {
          const size_t kj = size_t(((b * c.T + j) * c.Hkv + g) * c.D);
          double dot = 0;
          for (int64_t e = 0; e < c.D; ++e) dot += q[qi + e] * k[kj + e];
          s[j] = scale * dot;
          m = std::max(m, s[j]);
        }
        double sum = 0;
        for (int64_t j = j0; j <= i; ++j) sum += std::exp(s[j] - m);
        for (int64_t j = j0; j <= i; ++j) {
          const size_t vj = size_t(((b * c.T + j) * c.Hkv + g) * c.D);
          const double p = std::exp(s[j] - m) / sum;
          for (int64_t e = 0; e < c.D; ++e) out[qi + e] += p * v[vj + e];
        }
        lse[size_t((b * c.Hq + h) * c.T + i)] = m + std::log(sum);
      }
    }
  return {out, lse};
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 300;
  for (const Config& c : kConfigs) {
    const Shape qs = {c.B, c.T, c.Hq, c.D}, kvs = {c.B, c.T, c.Hkv, c.D};
    // q spans [-2, 2] so that some rows have peaked softmaxes.
    OpCase a{"attention",
             name(c),
             {{"q", random_tensor(qs, seed++, -2.0f, 2.0f)},
              {"k", random_tensor(kvs, seed++)},
              {"v", random_tensor(kvs, seed++)}}};
    if (!c.docs.empty())
      a.inputs.push_back({"doc_start", Tensor::from_ints(doc_starts(c), {c.B, c.T}), false});
    // The starts, when the case has them (undefined: plain causal).
    auto starts = [](const Tensors& in) { return in.size() > 3 ? in[3] : Tensor(); };
    auto forward = [c, starts](const Tensors& in) {
      Tensor out = empty_like(in[0], in[0].shape());
      Tensor lse = empty_as(in[0], {c.B, c.Hq, c.T}, DType::F32);
      ops::attention_forward(in[0], in[1], in[2], out, lse, starts(in));
      return Tensors{out, lse};
    };
    a.forward = forward;
    a.backward = [forward, starts](const Tensors& in, const Tensors& g) {
      const Tensors fwd = forward(in);
      Tensor dq = empty_like(in[0], in[0].shape());
      Tensor dk = empty_like(in[1], in[1].shape());
      Tensor dv = empty_like(in[2], in[2].shape());
      ops::attention_backward(g[0], in[0], in[1], in[2], fwd[0], fwd[1], dq, dk, dv, starts(in));
      return Tensors{dq, dk, dv};
    };
    a.reference = [c](const std::vector<Values>& x) { return reference(c, x); };
    a.output_differentiable = {true, false};
    cases.push_back(a);
  }
  return cases;
}

CaseRegistrar registrar("attention", make_cases);

}  // namespace
}  // namespace neft::testing
