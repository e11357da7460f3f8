// Seeded permutations for shuffling: element i of the permutation of [0, n) is computed
// directly, without materialising or shuffling an array, so a data order costs no memory
// whatever the dataset size, any position in it can be looked up in O(1), and the order is
// the same on every platform and standard library (std::shuffle's is implementation-defined).
//
// Construction: a 4-round Feistel network keyed by Philox (runtime/rng.h) permutes the
// smallest power-of-4 domain holding n; "cycle walking" (re-applying it until the value
// falls below n) restricts it to [0, n) and stays a bijection. The domain is < 4n, so a
// lookup applies the network fewer than 4 times on average.
#pragma once
#include <cstdint>

namespace neft::data {

// A 64-bit mix (splitmix64's finaliser): derives independent seeds from (seed, stream).
uint64_t mix64(uint64_t x);
uint64_t mix_seed(uint64_t seed, uint64_t stream);

class SeededPermutation {
 public:
  // A permutation of [0, n) chosen by (seed, stream); e.g. stream = epoch.
  SeededPermutation(uint64_t n, uint64_t seed, uint64_t stream = 0);
  uint64_t size() const { return n_; }
  uint64_t operator()(uint64_t i) const;

 private:
  uint64_t feistel(uint64_t x) const;

  uint64_t n_;
  uint64_t key_;
  int half_bits_ = 1;  // the domain is 2^(2 * half_bits_)
};

}  // namespace neft::data
