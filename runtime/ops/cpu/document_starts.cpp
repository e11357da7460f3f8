#include "runtime/ops/document_starts.h"

namespace neft::ops {

template <>
void document_starts<Device::CPU>(const Tensor& positions, Tensor& starts) {
  const int64_t B = positions.size(0), T = positions.size(1);
  const int32_t* pos = positions.data<int32_t>();
  int32_t* out = starts.data<int32_t>();
  for (int64_t b = 0; b < B; ++b) {
    const int32_t* p = pos + b * T;
    int32_t* s = out + b * T;
    for (int64_t t = 0; t < T; ++t)
      s[t] = t == 0 || int64_t(p[t]) != int64_t(p[t - 1]) + 1 ? int32_t(t) : s[t - 1];
  }
}

}  // namespace neft::ops
