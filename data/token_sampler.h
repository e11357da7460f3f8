// Token sampler: cuts a token file's stream into windows of T + 1 tokens (window j covers
// tokens [j*T, j*T + T], so consecutive windows share one token and every token but the
// first is a target exactly once per epoch) and visits the windows in a seeded order that
// changes every epoch. tokens = window[0:T], targets = window[1:T+1], and positions count
// from 0 at each document start, so RoPE sees document-relative positions.
//
// Windows run across document boundaries, as in GPT/Megatron pretraining: the target at a
// document's last token is the next document's first token (tokenizers end documents with
// an end-of-text id, which makes that target meaningful).
#pragma once
#include <cstdint>

#include "data/batch.h"
#include "data/token_file.h"

namespace neft::data {

class TokenSampler {
 public:
  // Fails naming the file when it holds fewer than T + 1 tokens.
  TokenSampler(TokenFile file, int64_t T, uint64_t seed);

  const TokenFile& file() const { return file_; }
  int64_t T() const { return T_; }
  uint64_t seed() const { return seed_; }
  uint64_t windows_per_epoch() const { return windows_; }
  // The window the endless stream visits at step k: epoch k / windows, shuffled within it.
  uint64_t window_at(uint64_t k) const;
  // Writes window `window` into row `row` of b (b.T must be T).
  void fill_row(uint64_t window, Batch& b, int64_t row) const;

 private:
  TokenFile file_;
  int64_t T_;
  uint64_t seed_;
  uint64_t windows_;
};

}  // namespace neft::data
