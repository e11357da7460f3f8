#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/cpu/vec_math.h"
#include "runtime/ops/rmsnorm.h"

namespace neft::ops {

namespace {

// Rows per thread worth waking the team for: about kParallelGrain elements.
int64_t row_grain(int64_t c) {
  return std::max<int64_t>(1, cpu::kParallelGrain / std::max<int64_t>(c, 1));
}

// Backward sums dweight over blocks of this many rows, then the blocks' partial sums in
// order: a fixed partition, so the result does not depend on the thread count.
constexpr int64_t kRowBlock = 64;
constexpr int64_t kColumnChunk = 256;

// One row: returns rstd and writes y = x * rstd * w.
NEFT_CPU_KERNEL float forward_row(const float* x, const float* w, float eps, float* y, int64_t c) {
  float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
  for (int64_t j = 0; j < c; ++j) ss += x[j] * x[j];
  const float r = 1.0f / std::sqrt(ss / float(c) + eps);
#pragma omp simd
  for (int64_t j = 0; j < c; ++j) y[j] = x[j] * r * w[j];
  return r;
}

// Rows [i0, i1): dx, and acc += sum over the rows of dy * x * rstd. A row's dweight term is
// read before its dx is written, so dx may alias dy.
NEFT_CPU_KERNEL void backward_rows(const float* pdy, const float* px, const float* w,
                                   const float* pr, float* pdx, float* acc, int64_t i0, int64_t i1,
                                   int64_t c) {
  for (int64_t i = i0; i < i1; ++i) {
    const float r = pr[i];
    const float *dy = pdy + i * c, *x = px + i * c;
    float* dx = pdx + i * c;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < c; ++j) dot += dy[j] * w[j] * x[j];
    const float k = r * r * r * dot / float(c);
#pragma omp simd
    for (int64_t j = 0; j < c; ++j) {
      acc[j] += dy[j] * x[j] * r;
      dx[j] = r * w[j] * dy[j] - k * x[j];
    }
  }
}

// dweight[j0, j1) += the blocks' partial sums, block by block.
NEFT_CPU_KERNEL void sum_partials(const float* partial, int64_t blocks, int64_t c, int64_t j0,
                                  int64_t j1, float* dw) {
  float acc[kColumnChunk] = {};
  for (int64_t b = 0; b < blocks; ++b) {
    const float* p = partial + b * c;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) acc[j - j0] += p[j];
  }
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) dw[j] += acc[j - j0];
}

}  // namespace

template <>
void rmsnorm_forward<Device::CPU>(const Tensor& x, const Tensor& weight, float eps, Tensor& y,
                                  Tensor& rstd) {
  const int64_t n = x.size(0), c = x.size(1);
  if (n == 0 || c == 0) return;
  const float *px = x.data<float>(), *pw = weight.data<float>();
  float *py = y.data<float>(), *pr = rstd.data<float>();
  cpu::parallel_for(
      n, [&](int64_t i) { pr[i] = forward_row(px + i * c, pw, eps, py + i * c, c); }, row_grain(c));
}

// dx = rstd * w * dy - rstd^3 / C * x * sum_k(dy_k w_k x_k);  dweight += sum_rows dy * x * rstd.
// One pass over dy and x: each block of rows writes its dx and its own partial dweight,
// then the partials are summed per column chunk.
template <>
void rmsnorm_backward<Device::CPU>(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                   const Tensor& rstd, Tensor& dx, Tensor& dweight) {
  const int64_t n = x.size(0), c = x.size(1);
  if (n == 0 || c == 0) return;
  const float *pdy = dy.data<float>(), *px = x.data<float>(), *pw = weight.data<float>(),
              *pr = rstd.data<float>();
  float *pdx = dx.data<float>(), *pdw = dweight.data<float>();

  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
  std::vector<float> partial(size_t(blocks * c));
  cpu::parallel_for(
      blocks,
      [&](int64_t b) {
        float* acc = partial.data() + b * c;
        std::fill_n(acc, c, 0.0f);
        backward_rows(pdy, px, pw, pr, pdx, acc, b * kRowBlock, std::min(n, (b + 1) * kRowBlock),
                      c);
      },
      std::max<int64_t>(1, cpu::kParallelGrain / (kRowBlock * c)));

  const int64_t chunks = (c + kColumnChunk - 1) / kColumnChunk;
  cpu::parallel_for(
      chunks,
      [&](int64_t k) {
        const int64_t j0 = k * kColumnChunk;
        sum_partials(partial.data(), blocks, c, j0, std::min(c, j0 + kColumnChunk), pdw);
      },
      std::max<int64_t>(1, cpu::kParallelGrain / (blocks * kColumnChunk)));
}

}  // namespace neft::ops
