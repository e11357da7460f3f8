#include <algorithm>
#include <cmath>

#include "runtime/ops/attribution.h"
#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/cpu/vec_math.h"

namespace neft::ops {

namespace {

constexpr int64_t kColumns = 64;  // columns per task: one row segment of each is contiguous

// acc[0, w) += a * g (or |a * g|) over rows [0, N) of columns [0, w) of a row-major [N, U]
// pair, row by row: every column is summed in token order whatever the thread count.
NEFT_CPU_KERNEL void accumulate_columns(const float* a, const float* g, int64_t N, int64_t U,
                                        int64_t w, bool absolute, double* acc) {
  for (int64_t n = 0; n < N; ++n) {
    const float* an = a + n * U;
    const float* gn = g + n * U;
    if (absolute) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) acc[j] += std::fabs(double(an[j]) * double(gn[j]));
    } else {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) acc[j] += double(an[j]) * double(gn[j]);
    }
  }
}

}  // namespace

template <>
void attribution_accumulate<Device::CPU>(const Tensor& act, const Tensor& grad, Tensor& out,
                                         bool absolute) {
  const int64_t N = act.size(0), U = act.size(1);
  const float* a = act.data<float>();
  const float* g = grad.data<float>();
  float* o = out.data<float>();
  const int64_t tiles = (U + kColumns - 1) / kColumns;
  cpu::parallel_for(
      tiles,
      [&](int64_t t) {
        const int64_t begin = t * kColumns, w = std::min(U, begin + kColumns) - begin;
        double acc[kColumns] = {};
        accumulate_columns(a + begin, g + begin, N, U, w, absolute, acc);
        for (int64_t j = 0; j < w; ++j) o[begin + j] = float(double(o[begin + j]) + acc[j]);
      },
      N * U >= cpu::kParallelGrain ? 2 : tiles + 1);  // small inputs run serially
}

}  // namespace neft::ops
