#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/rope.h"

namespace neft::ops {

// y = R(sign * a) x per (i, i + D/2) pair; sign -1 is the transpose. y may be x.
template <>
void rope_rotate<Device::CPU>(const Tensor& x, const Tensor& positions, float theta, float sign,
                              Tensor& y) {
  const int64_t n = x.size(0), h = x.size(1), d = x.size(2), half = d / 2;
  if (x.numel() == 0) return;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inv_freq[size_t(i)] = rope_inv_freq(theta, i, d);
  const float* px = x.data<float>();
  const int32_t* pos = positions.data<int32_t>();
  float* py = y.data<float>();
  cpu::parallel_for(
      n,
      [&](int64_t t) {
        float cs[kRopeMaxHeadDim / 2], sn[kRopeMaxHeadDim / 2];
        for (int64_t i = 0; i < half; ++i) {
          const float a = float(pos[t]) * inv_freq[size_t(i)];
          cs[i] = std::cos(a);
          sn[i] = sign * std::sin(a);
        }
        for (int64_t k = 0; k < h; ++k) {
          const float* xr = px + (t * h + k) * d;
          float* yr = py + (t * h + k) * d;
          for (int64_t i = 0; i < half; ++i) {
            const float a = xr[i], b = xr[i + half];
            yr[i] = a * cs[i] - b * sn[i];
            yr[i + half] = b * cs[i] + a * sn[i];
          }
        }
      },
      std::max<int64_t>(1, cpu::kParallelGrain / std::max<int64_t>(h * d, 1)));
}

}  // namespace neft::ops
