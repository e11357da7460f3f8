// Seeded permutations (see permutation.h).
#include "data/permutation.h"

#include "runtime/error.h"
#include "runtime/rng.h"

namespace neft::data {

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t mix_seed(uint64_t seed, uint64_t stream) { return mix64(seed ^ mix64(stream)); }

SeededPermutation::SeededPermutation(uint64_t n, uint64_t seed, uint64_t stream)
    : n_(n), key_(mix_seed(seed, stream)) {
  NEFT_CHECK(n > 0, "cannot permute an empty range");
  NEFT_CHECK(n <= (uint64_t(1) << 62), "cannot permute ", n, " elements (at most 2^62)");
  while ((uint64_t(1) << (2 * half_bits_)) < n) ++half_bits_;
}

uint64_t SeededPermutation::feistel(uint64_t x) const {
  const uint64_t mask = (uint64_t(1) << half_bits_) - 1;
  uint64_t left = x >> half_bits_, right = x & mask;
  for (uint64_t round = 0; round < 4; ++round) {
    const rng::U32x4 w = rng::random_words(key_, round, right);
    const uint64_t f = (uint64_t(w.v[1]) << 32 | w.v[0]) & mask;
    const uint64_t next_right = left ^ f;
    left = right;
    right = next_right;
  }
  return left << half_bits_ | right;
}

uint64_t SeededPermutation::operator()(uint64_t i) const {
  NEFT_CHECK(i < n_, "permutation index ", i, " out of range [0, ", n_, ")");
  uint64_t x = i;
  do x = feistel(x);
  while (x >= n_);
  return x;
}

}  // namespace neft::data
