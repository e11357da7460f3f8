// Vocabulary-parallel embedding. Some cases shard the vocabulary (vocab_start != 0) with
// token ids on both sides of the shard, which must give zero rows and no gradient. out is
// linear in table, so the finite differences are exact.
#include "runtime/ops/embedding.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

struct Case {
  int64_t n, v, c, vocab_start;
  int32_t id_lo, id_hi;  // token ids drawn from [id_lo, id_hi)
  bool dtable_f32;       // on CUDA, accumulate dtable in f32 whatever table's dtype
};

// Many more tokens than rows in the small vocabularies, so rows repeat. The last case is
// wide enough for the threaded CPU paths (several column chunks).
const Case kCases[] = {{37, 7, 173, 0, 0, 7, false},          {300, 173, 7, 0, 0, 173, true},
                       {64, 4099, 5, 0, 0, 4099, false},      {41, 7, 33, 20, 10, 35, true},
                       {300, 173, 9, 1000, 900, 1250, false}, {97, 4099, 3, 4099, 0, 12000, true},
                       {41, 7, 600, 3, 0, 12, false}};

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  uint64_t seed = 700;
  for (const Case& k : kCases) {
    const int64_t n = k.n, v = k.v, c = k.c, vs = k.vocab_start;
    const bool dtable_f32 = k.dtable_f32;
    OpCase e{"embedding",
             "n" + std::to_string(n) + "_v" + std::to_string(v) + "x" + std::to_string(c) +
                 "_start" + std::to_string(vs),
             {{"tokens", random_ints({n}, seed++, k.id_lo, k.id_hi), false},
              {"table", random_tensor({v, c}, seed++)}}};
    e.forward = [=](const Tensors& in) {
      Tensor out = empty_like(in[1], {n, c});
      ops::embedding_forward(in[0], in[1], vs, out);
      return Tensors{out};
    };
    e.backward = [=](const Tensors& in, const Tensors& g) {
      Tensor dtable = dtable_f32 ? empty_as(in[1], {v, c}, DType::F32) : empty_like(in[1], {v, c});
      dtable.zero_();
      ops::embedding_backward(g[0], in[0], vs, dtable);
      return Tensors{dtable};
    };
    e.reference = [=](const std::vector<Values>& in) {
      Values out(static_cast<size_t>(n * c), 0.0);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t row = int64_t(in[0][i]) - vs;
        if (row < 0 || row >= v) continue;
        for (int64_t j = 0; j < c; ++j) out[i * c + j] = in[1][row * c + j];
      }
      return std::vector<Values>{out};
    };
    cases.push_back(e);
  }
  return cases;
}

CaseRegistrar registrar("embedding", make_cases);

}  // namespace
}  // namespace neft::testing
