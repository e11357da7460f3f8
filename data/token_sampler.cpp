// Token sampler (see token_sampler.h).
#include "data/token_sampler.h"

#include <algorithm>
#include <vector>

#include "data/permutation.h"
#include "runtime/error.h"

namespace neft::data {

TokenSampler::TokenSampler(TokenFile file, int64_t T, uint64_t seed)
    : file_(std::move(file)), T_(T), seed_(seed) {
  NEFT_CHECK(T > 0, "sequence length T must be positive, got ", T);
  if (file_.n_tokens() < uint64_t(T) + 1)
    fail(file_.path(), ": ", file_.n_tokens(),
         " tokens are too few for one sequence of T+1 = ", T + 1);
  windows_ = (file_.n_tokens() - 1) / uint64_t(T);
}

uint64_t TokenSampler::window_at(uint64_t k) const {
  // A permutation is a pure function of (seed, epoch): nothing to store, nothing to replay.
  const SeededPermutation order(windows_, seed_, k / windows_);
  return order(k % windows_);
}

void TokenSampler::fill_row(uint64_t window, Batch& b, int64_t row) const {
  NEFT_CHECK(b.T == T_ && row >= 0 && row < b.B, "token sampler: row ", row, " of a ", b.B, "x",
             b.T, " batch does not fit T=", T_);
  NEFT_CHECK(window < windows_, file_.path(), ": window ", window, " out of range (", windows_,
             " windows)");
  const uint64_t begin = window * uint64_t(T_);
  std::vector<int32_t> s(size_t(T_) + 1);
  file_.read(begin, s.size(), s.data());
  const size_t at = size_t(row * T_);
  uint64_t doc = file_.doc_of(begin);
  uint64_t next_doc_start = file_.doc_start(doc + 1);
  for (int64_t t = 0; t < T_; ++t) {
    const uint64_t i = begin + uint64_t(t);
    if (i == next_doc_start) next_doc_start = file_.doc_start(++doc + 1);
    b.tokens[at + t] = s[size_t(t)];
    b.targets[at + t] = s[size_t(t) + 1];
    b.positions[at + t] = int32_t(i - file_.doc_start(doc));
  }
  b.task[size_t(row)] = -1;
  b.real = std::max<int64_t>(b.real, 0) + T_;
}

}  // namespace neft::data
