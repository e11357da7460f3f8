#include <algorithm>
#include <vector>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/cpu/vec_math.h"
#include "runtime/ops/reduce.h"

namespace neft::ops {

namespace {

// Sum of squares of p[0, n) in double; the vector lanes are fixed by the compiled code, so
// the order is too.
NEFT_CPU_KERNEL double sum_squares_range(const float* p, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += double(p[i]) * double(p[i]);
  return s;
}

}  // namespace

template <>
void sum_squares<Device::CPU>(const Tensor& x, Tensor& out, bool accumulate) {
  // Fixed chunks summed in order: the partition, hence the result, does not depend on how
  // many threads run them.
  constexpr int64_t kChunk = 1 << 16;
  const int64_t n = x.numel(), chunks = (n + kChunk - 1) / kChunk;
  const float* p = x.data<float>();
  std::vector<double> partial(size_t(chunks), 0.0);
  cpu::parallel_for(
      chunks,
      [&](int64_t c) {
        const int64_t begin = c * kChunk;
        partial[size_t(c)] = sum_squares_range(p + begin, std::min(n, begin + kChunk) - begin);
      },
      2);  // one chunk runs serially
  double total = accumulate ? double(out.data<float>()[0]) : 0.0;
  double sum = 0;
  for (double s : partial) sum += s;
  out.data<float>()[0] = float(total + sum);
}

}  // namespace neft::ops
