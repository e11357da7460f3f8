#include <algorithm>
#include <cmath>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/rmsnorm.h"

namespace neft::ops {

namespace {
// Rows per thread worth waking the team for: about kParallelGrain elements.
int64_t row_grain(int64_t c) {
  return std::max<int64_t>(1, cpu::kParallelGrain / std::max<int64_t>(c, 1));
}
constexpr int64_t kColumnChunk = 64;
}  // namespace

template <>
void rmsnorm_forward<Device::CPU>(const Tensor& x, const Tensor& weight, float eps, Tensor& y,
                                  Tensor& rstd) {
  const int64_t n = x.size(0), c = x.size(1);
  if (n == 0 || c == 0) return;
  const float *px = x.data<float>(), *pw = weight.data<float>();
  float *py = y.data<float>(), *pr = rstd.data<float>();
  cpu::parallel_for(
      n,
      [&](int64_t i) {
        const float* xr = px + i * c;
        float ss = 0.0f;
        for (int64_t j = 0; j < c; ++j) ss += xr[j] * xr[j];
        const float r = 1.0f / std::sqrt(ss / float(c) + eps);
        pr[i] = r;
        float* yr = py + i * c;
        for (int64_t j = 0; j < c; ++j) yr[j] = xr[j] * r * pw[j];
      },
      row_grain(c));
}

// dx = rstd * w * dy - rstd^3 / C * x * sum_k(dy_k w_k x_k);  dweight += sum_rows dy * x * rstd.
template <>
void rmsnorm_backward<Device::CPU>(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                   const Tensor& rstd, Tensor& dx, Tensor& dweight) {
  const int64_t n = x.size(0), c = x.size(1);
  if (n == 0 || c == 0) return;
  const float *pdy = dy.data<float>(), *px = x.data<float>(), *pw = weight.data<float>(),
              *pr = rstd.data<float>();
  float *pdx = dx.data<float>(), *pdw = dweight.data<float>();

  // dweight first: dx may alias dy. Each thread owns a chunk of columns and walks the rows
  // in order, so the sums do not depend on the thread count.
  const int64_t chunks = (c + kColumnChunk - 1) / kColumnChunk;
  cpu::parallel_for(
      chunks,
      [&](int64_t k) {
        const int64_t j0 = k * kColumnChunk, j1 = std::min(c, j0 + kColumnChunk);
        float acc[kColumnChunk] = {};
        for (int64_t i = 0; i < n; ++i) {
          const float r = pr[i];
          const float *dyr = pdy + i * c, *xr = px + i * c;
          for (int64_t j = j0; j < j1; ++j) acc[j - j0] += dyr[j] * xr[j] * r;
        }
        for (int64_t j = j0; j < j1; ++j) pdw[j] += acc[j - j0];
      },
      std::max<int64_t>(1, cpu::kParallelGrain / (n * kColumnChunk)));

  cpu::parallel_for(
      n,
      [&](int64_t i) {
        const float r = pr[i];
        const float *dyr = pdy + i * c, *xr = px + i * c;
        float dot = 0.0f;
        for (int64_t j = 0; j < c; ++j) dot += dyr[j] * pw[j] * xr[j];
        const float k = r * r * r * dot / float(c);
        float* dxr = pdx + i * c;
        for (int64_t j = 0; j < c; ++j) dxr[j] = r * pw[j] * dyr[j] - k * xr[j];
      },
      row_grain(c));
}

}  // namespace neft::ops
