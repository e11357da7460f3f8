#include <algorithm>
#include <vector>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/reduce.h"

namespace neft::ops {

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
        double s = 0;
        for (int64_t i = c * kChunk, end = std::min(n, i + kChunk); i < end; ++i)
          s += double(p[i]) * double(p[i]);
        partial[size_t(c)] = s;
      },
      2);  // one chunk runs serially
  double total = accumulate ? double(out.data<float>()[0]) : 0.0;
  double sum = 0;
  for (double s : partial) sum += s;
  out.data<float>()[0] = float(total + sum);
}

}  // namespace neft::ops
