#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/ops/cpu/parallel.h"
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
  double sum_exp;  // sum exp(x - max), accumulated in double
};

RowStats row_stats(const float* x, int64_t v) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < v; ++j) m = std::max(m, x[j]);
  double s = 0;
  // A row of -inf has no finite maximum: its sum is 0 rather than exp(nan).
  if (m != -std::numeric_limits<float>::infinity())
    for (int64_t j = 0; j < v; ++j) s += std::exp(double(x[j]) - double(m));
  return {m, s};
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
        const int64_t local = int64_t(t[n]) - vocab_start;
        for (int64_t j = 0; j < v; ++j) {
          const float p = std::exp(row[j] - pe[n]);
          drow[j] = dl[n] * (j == local ? p - 1.0f : p);
        }
      },
      row_grain(v));
}

}  // namespace neft::ops
