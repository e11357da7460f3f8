// Document starts from positions: rows of packed documents (positions 0, 1, ... restarting),
// a row that begins mid-document (positions from k > 0, as a window of a token file does),
// one-token documents (padding at position 0), and positions that jump without restarting.
#include "runtime/ops/document_starts.h"
#include "tests/unit/op_harness.h"

namespace neft::testing {
namespace {

// From the definition: the latest t' <= t that is column 0 or breaks the count by one.
std::vector<Values> reference(int64_t B, int64_t T, const std::vector<Values>& x) {
  Values s(size_t(B * T));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      int64_t u = t;
      while (u > 0 && x[0][size_t(b * T + u)] == x[0][size_t(b * T + u - 1)] + 1) --u;
      s[size_t(b * T + t)] = double(u);
    }
  return {s};
}

// Row b: documents of lengths lens[(b + k) % n] in turn; row 1 starts at position 5 (the
// middle of a document), and every third row ends in padding (positions 0).
std::vector<int32_t> positions(int64_t B, int64_t T, const std::vector<int64_t>& lens) {
  std::vector<int32_t> p(size_t(B * T));
  for (int64_t b = 0; b < B; ++b) {
    int64_t k = 0, pos = b == 1 ? 5 : 0, left = lens[size_t(b) % lens.size()];
    for (int64_t t = 0; t < T; ++t) {
      if (b % 3 == 2 && t >= T - 3) pos = 0;  // padding
      p[size_t(b * T + t)] = int32_t(pos++);
      if (--left == 0) pos = 0, left = lens[size_t(b + ++k) % lens.size()];
    }
  }
  return p;
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  struct Shape2 {
    int64_t B, T;
    std::vector<int64_t> lens;
  };
  for (const Shape2& s : {Shape2{1, 1, {1}}, Shape2{3, 7, {1, 2}}, Shape2{4, 173, {64, 1, 45}},
                          Shape2{3, 300, {129, 300}}}) {
    std::vector<int32_t> pos = positions(s.B, s.T, s.lens);
    if (s.T == 300) pos[size_t(s.T + 40)] += 7;  // a jump forward is a new document too
    OpCase c{"document_starts",
             shape_name({s.B, s.T}),
             {{"positions", Tensor::from_ints(pos, {s.B, s.T}), false}}};
    c.forward = [](const Tensors& in) {
      Tensor starts = empty_as(in[0], in[0].shape(), DType::I32);
      ops::document_starts(in[0], starts);
      return Tensors{starts};
    };
    c.reference = [s](const std::vector<Values>& x) { return reference(s.B, s.T, x); };
    c.tol.forward = 0;  // indices: exact
    c.tol.cuda_f32 = 0;
    c.cuda_bf16 = false;
    cases.push_back(c);
  }
  return cases;
}

CaseRegistrar registrar("document_starts", make_cases);

}  // namespace
}  // namespace neft::testing
