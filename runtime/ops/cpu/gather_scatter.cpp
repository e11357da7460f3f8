#include <algorithm>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/gather_scatter.h"

namespace neft::ops {

using cpu::parallel_for;

namespace {
int64_t grain(int64_t row_len) {
  return std::max<int64_t>(1, cpu::kParallelGrain / std::max<int64_t>(row_len, 1));
}
}  // namespace

template <>
void gather_rows<Device::CPU>(const Tensor& src, const Tensor& idx, Tensor& dst) {
  const int64_t c = src.size(1);
  const float* s = src.data<float>();
  const int32_t* id = idx.data<int32_t>();
  float* d = dst.data<float>();
  parallel_for(
      idx.numel(), [&](int64_t k) { std::copy_n(s + id[k] * c, c, d + k * c); }, grain(c));
}

template <>
void scatter_rows<Device::CPU>(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate) {
  const int64_t c = src.size(1);
  const float* s = src.data<float>();
  const int32_t* id = idx.data<int32_t>();
  float* d = dst.data<float>();
  parallel_for(
      idx.numel(),
      [&](int64_t k) {
        float* row = d + int64_t(id[k]) * c;
        const float* from = s + k * c;
        if (accumulate)
          for (int64_t j = 0; j < c; ++j) row[j] += from[j];
        else
          std::copy_n(from, c, row);
      },
      grain(c));
}

template <>
void gather_cols<Device::CPU>(const Tensor& src, const Tensor& idx, Tensor& dst) {
  const int64_t c = src.size(1), k = idx.numel();
  const float* s = src.data<float>();
  const int32_t* id = idx.data<int32_t>();
  float* d = dst.data<float>();
  parallel_for(
      src.size(0),
      [&](int64_t r) {
        for (int64_t j = 0; j < k; ++j) d[r * k + j] = s[r * c + id[j]];
      },
      grain(k));
}

template <>
void scatter_cols<Device::CPU>(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate) {
  const int64_t c = dst.size(1), k = idx.numel();
  const float* s = src.data<float>();
  const int32_t* id = idx.data<int32_t>();
  float* d = dst.data<float>();
  parallel_for(
      src.size(0),
      [&](int64_t r) {
        for (int64_t j = 0; j < k; ++j) {
          float& out = d[r * c + id[j]];
          out = accumulate ? out + s[r * k + j] : s[r * k + j];
        }
      },
      grain(k));
}

}  // namespace neft::ops
