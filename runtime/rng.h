// Counter-based RNG: Philox4x32-10 (Salmon et al., SC'11, the generator of cuRAND and
// PyTorch's CUDA RNG). Element i of a draw at (seed, offset) is a pure function of those
// three numbers, so CPU and CUDA fill tensors with the same values in any order and any
// thread count, and a checkpoint only needs to store the offset.
#pragma once
#include <cmath>
#include <cstdint>

#include "runtime/host_device.h"

namespace neft::rng {

struct U32x4 {
  uint32_t v[4];
};

NEFT_HD uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

NEFT_HD U32x4 philox4x32_10(U32x4 ctr, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo(0xD2511F53u, ctr.v[0], &hi0);
    const uint32_t lo1 = mulhilo(0xCD9E8D57u, ctr.v[2], &hi1);
    ctr = U32x4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return ctr;
}

// Four random words for element `index` of the draw (seed, offset).
NEFT_HD U32x4 random_words(uint64_t seed, uint64_t offset, uint64_t index) {
  const U32x4 ctr{
      {uint32_t(index), uint32_t(index >> 32), uint32_t(offset), uint32_t(offset >> 32)}};
  return philox4x32_10(ctr, uint32_t(seed), uint32_t(seed >> 32));
}

// Uniform in [0, 1) with 24 random bits: exact in float, identical on every backend.
NEFT_HD float uniform01(uint32_t w) { return float(w >> 8) * (1.0f / 16777216.0f); }

// Inverted dropout's keep decision for element `index` of the draw (seed, offset): dropped with
// probability p, exactly ceil(p * 2^24) / 2^24 (the 24-bit uniform below p). Integer work and
// one exact comparison, so every backend keeps the same elements.
NEFT_HD bool keep(uint64_t seed, uint64_t offset, uint64_t index, float p) {
  return uniform01(random_words(seed, offset, index).v[0]) >= p;
}

// One fused multiply-add, written out: left as `lo + (hi - lo) * u`, nvcc fuses it and g++
// does not (on a baseline x86-64 target), and the two backends would differ in the last bit.
NEFT_HD float uniform(uint64_t seed, uint64_t offset, uint64_t index, float lo, float hi) {
  return fmaf(hi - lo, uniform01(random_words(seed, offset, index).v[0]), lo);
}

// Standard normal by Box-Muller on two words of the element's own block. Uses log/cos, so
// CPU and CUDA agree to within a few ulp rather than bitwise.
NEFT_HD float normal(uint64_t seed, uint64_t offset, uint64_t index) {
  const U32x4 w = random_words(seed, offset, index);
  const float u1 = (float(w.v[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
  const float u2 = uniform01(w.v[1]);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}

}  // namespace neft::rng
