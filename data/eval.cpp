// Evaluation helpers (see eval.h).
#include "data/eval.h"

#include <algorithm>

#include "runtime/error.h"

namespace neft::data {

std::vector<Batch> synthetic_eval_batches(const SyntheticSuite& suite, int task, int64_t n_examples,
                                          int64_t B, int64_t T, Split split) {
  suite.task_name(task);  // range check
  NEFT_CHECK(n_examples >= 0 && B > 0 && T > 0, "eval batches need n_examples >= 0, B > 0 and ",
             "T > 0, got ", n_examples, ", ", B, ", ", T);
  if (suite.max_example_tokens() > T)
    fail("synthetic suite: examples reach ", suite.max_example_tokens(),
         " tokens, more than the sequence length T=", T);
  std::vector<Batch> batches;
  uint64_t next = 0;
  while (int64_t(next) < n_examples) {
    Batch b = Batch::padded(std::min<int64_t>(B, n_examples - int64_t(next)), T);
    fill_rows(b, /*packed=*/false, next, [&](uint64_t k) { return suite.example(task, k, split); });
    batches.push_back(std::move(b));
  }
  return batches;
}

// With teacher forcing, position t sees the true prefix. If the argmax is right at every
// counted position, greedy decoding from the prompt emits the first response token, is then
// fed exactly the prefix teacher forcing used, emits the second, and so on: it reproduces
// the response. If some argmax is wrong, greedy decoding sees the same prefix up to the
// first such position and goes wrong there. So this equals greedy decoding's success
// (given the same arithmetic, causal attention and left-aligned rows).
std::vector<bool> exact_match(const Batch& b, const std::vector<int32_t>& argmax) {
  NEFT_CHECK(int64_t(argmax.size()) == b.B * b.T, "exact_match: argmax has ", argmax.size(),
             " entries, the batch is ", b.B, "x", b.T);
  std::vector<bool> ok(size_t(b.B));
  for (int64_t row = 0; row < b.B; ++row) {
    bool any = false, all = true;
    for (int64_t t = 0; t < b.T; ++t) {
      const size_t i = size_t(row * b.T + t);
      if (b.targets[i] == kIgnoreIndex) continue;
      any = true;
      all = all && argmax[i] == b.targets[i];
    }
    ok[size_t(row)] = any && all;
  }
  return ok;
}

}  // namespace neft::data
