#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/cpu/vec_math.h"
#include "runtime/ops/cross_entropy.h"

namespace neft::ops {

using cpu::parallel_for;

namespace {

// Rows are the unit of work: a grain of about kParallelGrain elements per thread wake-up.
int64_t row_grain(int64_t v) {
  return std::max<int64_t>(1, cpu::kParallelGrain / std::max<int64_t>(v, 1));
}

struct RowStats {
  float max;
  double sum_exp;  // sum exp(x - max)
};

// One pass over the row in blocks small enough to stay in L1: each block's maximum, the
// running sum rescaled when the maximum grows, then the block's exponentials. A single pass
// lets the exponentials overlap the memory stream of a row that is not cached.
NEFT_CPU_KERNEL RowStats row_stats(const float* x, int64_t v) {
  constexpr int64_t kBlock = 2048, kChunk = 256;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  float m = kNegInf;
  double s = 0;
  for (int64_t j0 = 0; j0 < v; j0 += kBlock) {
    const int64_t j1 = std::min(v, j0 + kBlock);
    float bm = m;
    // Not std::max, whose reference result stops the loop vectorising; a NaN is skipped as
    // std::max would skip it, and then propagates through the sum.
#pragma omp simd reduction(max : bm)
    for (int64_t j = j0; j < j1; ++j) bm = x[j] > bm ? x[j] : bm;
    // A row of -inf (so far) has no finite maximum: its sum is 0 rather than exp(nan).
    if (bm == kNegInf) continue;
    if (bm > m) {
      s *= std::exp(double(m) - double(bm));
      m = bm;
    }
    // Float partial sums of kChunk terms (each at most 1), added up in double: the vector
    // loop stays all-float and the sum's relative error stays near float rounding.
    for (int64_t c0 = j0; c0 < j1; c0 += kChunk) {
      const int64_t c1 = std::min(j1, c0 + kChunk);
      float cs = 0;
#pragma omp simd reduction(+ : cs)
      for (int64_t j = c0; j < c1; ++j) cs += cpu::exp_approx(x[j] - m);
      s += double(cs);
    }
  }
  return {m, s};
}

// drow[j] = d * (exp(row[j] - l) - [j == target]). The target's -1 comes after the loop,
// which then has no branch to stop it vectorising.
NEFT_CPU_KERNEL void row_grad(const float* row, float* drow, int64_t v, float d, float l,
                              int64_t target) {
#pragma omp simd
  for (int64_t j = 0; j < v; ++j) drow[j] = d * cpu::exp_approx(row[j] - l);
  if (target >= 0 && target < v) drow[target] = d * (cpu::exp_approx(row[target] - l) - 1.0f);
}

}  // namespace

template <>
void cross_entropy_stats<Device::CPU>(const Tensor& logits, const Tensor& targets,
                                      int64_t vocab_start, Tensor& row_max, Tensor& sum_exp,
                                      Tensor& target_logit) {
  const int64_t v = logits.size(1);
  const float* x = logits.data<float>();
  const int32_t* t = targets.data<int32_t>();
  float *pm = row_max.data<float>(), *ps = sum_exp.data<float>(), *pt = target_logit.data<float>();
  parallel_for(
      logits.size(0),
      [&](int64_t n) {
        const float* row = x + n * v;
        const RowStats st = row_stats(row, v);
        const int64_t local = int64_t(t[n]) - vocab_start;
        pm[n] = st.max;
        ps[n] = float(st.sum_exp);
        pt[n] = local >= 0 && local < v ? row[local] : 0.0f;
      },
      row_grain(v));
}

template <>
void cross_entropy_forward<Device::CPU>(const Tensor& logits, const Tensor& targets,
                                        int32_t ignore_index, Tensor& losses, Tensor& lse) {
  const int64_t n_rows = logits.size(0), v = logits.size(1);
  const int32_t* t = targets.data<int32_t>();
  for (int64_t n = 0; n < n_rows; ++n)
    if (t[n] != ignore_index && (t[n] < 0 || t[n] >= v))
      fail("cross_entropy_forward: target ", t[n], " at row ", n, " is outside the vocabulary [0, ",
           v, ") and is not ignore_index ", ignore_index);
  const float* x = logits.data<float>();
  float *pl = losses.data<float>(), *pe = lse.data<float>();
  parallel_for(
      n_rows,
      [&](int64_t n) {
        const float* row = x + n * v;
        const RowStats st = row_stats(row, v);
        const double l = double(st.max) + std::log(st.sum_exp);
        pe[n] = float(l);
        pl[n] = t[n] == ignore_index ? 0.0f : float(l - double(row[t[n]]));
      },
      row_grain(v));
}

template <>
void cross_entropy_backward<Device::CPU>(const Tensor& dlosses, const Tensor& logits,
                                         const Tensor& targets, const Tensor& lse,
                                         int64_t vocab_start, int32_t ignore_index,
                                         Tensor& dlogits) {
  const int64_t v = logits.size(1);
  const float *x = logits.data<float>(), *dl = dlosses.data<float>(), *pe = lse.data<float>();
  const int32_t* t = targets.data<int32_t>();
  float* dx = dlogits.data<float>();
  parallel_for(
      logits.size(0),
      [&](int64_t n) {
        const float* row = x + n * v;
        float* drow = dx + n * v;
        if (t[n] == ignore_index) {
          for (int64_t j = 0; j < v; ++j) drow[j] = 0.0f;
          return;
        }
        row_grad(row, drow, v, dl[n], pe[n], int64_t(t[n]) - vocab_start);
      },
      row_grain(v));
}

}  // namespace neft::ops
