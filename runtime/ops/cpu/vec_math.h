// Vectorisation helpers for the CPU kernels.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

// NEFT_CPU_KERNEL marks a hot loop nest (a function on raw pointers) to be compiled twice:
// for x86-64-v3 (AVX2 + FMA) and for the baseline x86-64 the build targets, picked at load
// time by the CPU (GCC's target_clones: an ifunc, hence glibc). The binary runs on any
// x86-64 machine, and results are bitwise reproducible on a given machine, but a v3 machine
// rounds a little differently from a baseline one (FMA contraction, wider vector
// reductions). Elsewhere, or when built with -DNEFT_CPU_BASELINE_ONLY (to reproduce a
// baseline machine's bits), it is empty.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && \
    !defined(NEFT_CPU_BASELINE_ONLY)
#define NEFT_CPU_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define NEFT_CPU_KERNEL
#endif

namespace neft::cpu {

// exp(x) in float for `#pragma omp simd` loops: std::exp is a library call, which keeps a
// loop scalar (there is no vector libm without -ffast-math). Within 1.01 ulp of exp over
// every float (checked exhaustively, with and without FMA), subnormal results included:
// x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2, so n ln2 is exact), exp(r) from
// Cephes' degree-6 polynomial, then 2^n applied as two halves so that results near the
// overflow and underflow limits come out right. exp(-inf) = 0, exp(+inf) = inf, NaN in
// gives NaN out. Branch-free.
inline float exp_approx(float x) {
  // Round x / ln2 to nearest by adding 1.5 * 2^23: the integer lands in the low mantissa
  // bits. Only exact for x in range; the selects at the end override everything else.
  const float shifter = 12582912.0f;
  const float t = x * 1.44269504088896341f + shifter;
  const float n = t - shifter;
  uint32_t tb, sb;
  std::memcpy(&tb, &t, 4);
  std::memcpy(&sb, &shifter, 4);
  const int32_t ni = int32_t(tb - sb);
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // 2^n = 2^(n/2) 2^(n - n/2), each half a normal float for n in [-150, 128].
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const uint32_t b1 = uint32_t(n1 + 127) << 23, b2 = uint32_t(n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  const float y = p * s1 * s2;
  // Out of range: 0 below, inf above, by masks rather than selects, which the compiler
  // would turn into branches around the arithmetic (and then not vectorise the loop). A NaN
  // fails both comparisons and propagates.
  const uint32_t under = 0u - uint32_t(x < -104.0f), over = 0u - uint32_t(x > 89.0f);
  uint32_t yb;
  std::memcpy(&yb, &y, 4);
  yb = (yb & ~(under | over)) | (0x7f800000u & over);
  float out;
  std::memcpy(&out, &yb, 4);
  return out;
}

// 1 / (1 + exp(-x)).
inline float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

// out[i] = sqrt(x[i]), correctly rounded like std::sqrt. A loop of std::sqrt stays scalar:
// it may set errno, which GCC only ignores under -fno-math-errno. SSE2 is part of x86-64,
// so the vector instruction is always there; other targets take the scalar loop.
inline void sqrt_n(const float* x, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(out + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#endif
  for (; i < n; ++i) out[i] = std::sqrt(x[i]);
}

}  // namespace neft::cpu
