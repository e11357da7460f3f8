// Attention over a KV cache (generation): a prefill (t = length, rows left-padded by their
// key_start), one-token steps at short and long lengths, a step into a partly filled cache
// (length < capacity), padding queries left of key_start (zeros), grouped and shared kv
// heads, and the head dims the models use. Forward only: generation takes no gradients.
#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/ops/attention_cached.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

struct Config {
  int64_t B, t, length, capacity, Hq, Hkv, D;
  std::vector<int32_t> key_start;  // [B]
};

const std::vector<Config> kConfigs = {
    {1, 1, 1, 1, 2, 2, 16, {0}},
    {2, 7, 7, 7, 4, 2, 16, {0, 3}},       // prefill, row 1 left-padded by 3
    {3, 1, 9, 12, 6, 1, 64, {0, 4, 8}},   // one step; row 2 has a one-token text
    {2, 1, 173, 200, 4, 2, 64, {0, 17}},  // a long cache
    {2, 3, 40, 64, 4, 4, 96, {5, 39}},    // three new columns; row 1's first query is padding
    {1, 1, 70, 70, 2, 1, 128, {0}},
    {2, 20, 20, 30, 9, 3, 64, {0, 11}},  // SmolLM2's head layout
};

std::string name(const Config& c) {
  return "B" + std::to_string(c.B) + "_t" + std::to_string(c.t) + "_L" + std::to_string(c.length) +
         "of" + std::to_string(c.capacity) + "_H" + std::to_string(c.Hq) + "x" +
         std::to_string(c.Hkv) + "_D" + std::to_string(c.D);
}

// From the definition: query i of row b is column length - t + i and reads keys
// key_start[b]..that column with a softmax; none (padding) gives zeros.
std::vector<Values> reference(const Config& c, const std::vector<Values>& x) {
  const Values &q = x[0], &k = x[1], &v = x[2], &start = x[3];
  Values out(size_t(c.B * c.t * c.Hq * c.D), 0.0);
  const double scale = 1.0 / std::sqrt(double(c.D));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t i = 0; i < c.t; ++i)
      for (int64_t h = 0; h < c.Hq; ++h) {
        const int64_t g = h / (c.Hq / c.Hkv), col = c.length - c.t + i;
        const int64_t j0 = int64_t(start[size_t(b)]);
        const size_t qi = size_t(((b * c.t + i) * c.Hq + h) * c.D);
        if (j0 > col) continue;
        std::vector<double> s(size_t(col + 1));
        double m = -std::numeric_limits<double>::infinity(), sum = 0;
        for (int64_t j = j0; j <= col; ++j) {
          const size_t kj = size_t(((b * c.capacity + j) * c.Hkv + g) * c.D);
          double dot = 0;
          for (int64_t e = 0; e < c.D; ++e) dot += q[qi + size_t(e)] * k[kj + size_t(e)];
          m = std::max(m, s[size_t(j)] = scale * dot);
        }
        for (int64_t j = j0; j <= col; ++j) sum += std::exp(s[size_t(j)] - m);
        for (int64_t j = j0; j <= col; ++j) {
          const size_t vj = size_t(((b * c.capacity + j) * c.Hkv + g) * c.D);
          const double p = std::exp(s[size_t(j)] - m) / sum;
          for (int64_t e = 0; e < c.D; ++e) out[qi + size_t(e)] += p * v[vj + size_t(e)];
        }
      }
  return {out};
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 900;
  for (const Config& c : kConfigs) {
    const Shape kvs = {c.B, c.capacity, c.Hkv, c.D};
    OpCase a{"attention_cached",
             name(c),
             {{"q", random_tensor({c.B, c.t, c.Hq, c.D}, seed++, -2.0f, 2.0f)},
              {"k_cache", random_tensor(kvs, seed++)},
              {"v_cache", random_tensor(kvs, seed++)},
              {"key_start", Tensor::from_ints(c.key_start, {c.B}), false}}};
    a.forward = [c](const Tensors& in) {
      Tensor out = empty_like(in[0], in[0].shape());
      ops::attention_cached(in[0], in[1], in[2], c.length, in[3], out);
      return Tensors{out};
    };
    a.reference = [c](const std::vector<Values>& x) { return reference(c, x); };
    cases.push_back(a);
  }
  return cases;
}

CaseRegistrar registrar("attention_cached", make_cases);

}  // namespace
}  // namespace neft::testing
