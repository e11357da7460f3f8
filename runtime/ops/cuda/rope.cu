#include <algorithm>

#include "runtime/ops/cuda/common.cuh"
#include "runtime/ops/rope.h"

namespace neft::ops {

namespace {
using namespace cuda_ops;

constexpr int kThreads = 128;
constexpr int64_t kMaxBlocks = int64_t(1) << 20;
constexpr int kMaxHalf = int(kRopeMaxHeadDim / 2);

// The frequencies travel by value as a kernel argument (2 KiB): no copy to the device and
// the host's powf values on both backends.
struct InvFreq {
  float f[kMaxHalf];
};

// One block per token: the block's threads first compute cos/sin of the token's D/2 angles
// once into shared memory, then rotate every head's pairs. sign -1 rotates by -a (backward).
// Each thread reads both halves of a pair before writing them, so y may be x.
template <class T>
__global__ void rotate_kernel(const T* x, const int32_t* positions, InvFreq inv_freq, float sign,
                              T* y, int64_t n, int64_t h, int64_t d) {
  __shared__ float cs[kMaxHalf], sn[kMaxHalf];
  const int64_t half = d / 2, pairs = h * half;
  for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
    const float p = float(positions[t]);
    __syncthreads();  // the previous token's readers are done with cs/sn
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
      float s, c;
      sincosf(p * inv_freq.f[i], &s, &c);
      cs[i] = c;
      sn[i] = sign * s;
    }
    __syncthreads();
    for (int64_t k = threadIdx.x; k < pairs; k += blockDim.x) {
      const int64_t head = k / half, i = k - head * half;
      const int64_t base = (t * h + head) * d;
      const float a = to_f32(x[base + i]), b = to_f32(x[base + i + half]);
      y[base + i] = from_f32<T>(a * cs[i] - b * sn[i]);
      y[base + i + half] = from_f32<T>(b * cs[i] + a * sn[i]);
    }
  }
}

}  // namespace

template <>
void rope_rotate<Device::CUDA>(const Tensor& x, const Tensor& positions, float theta, float sign,
                               Tensor& y) {
  const int64_t n = x.size(0), h = x.size(1), d = x.size(2);
  if (x.numel() == 0) return;
  InvFreq inv_freq{};
  for (int64_t i = 0; i < d / 2; ++i) inv_freq.f[i] = rope_inv_freq(theta, i, d);
  const unsigned blocks = unsigned(std::min(n, kMaxBlocks));
  NEFT_FLOAT_TYPES(x.dtype(), T, {
    rotate_kernel<T><<<blocks, kThreads, 0, cuda_detail::stream()>>>(
        x.data<T>(), positions.data<int32_t>(), inv_freq, sign, y.data<T>(), n, h, d);
    NEFT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace neft::ops
