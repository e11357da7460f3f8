#include <algorithm>

#include "runtime/ops/cuda/common.cuh"
#include "runtime/ops/rmsnorm.h"

namespace neft::ops {

namespace {
using namespace cuda_ops;

// Row-blocks of the backward, fixed so that the dweight reduction order (and so its bits)
// does not depend on the GPU model; scratch is kBackwardBlocks x C floats.
constexpr int64_t kBackwardBlocks = 512;
constexpr int64_t kMaxRowBlocks = int64_t(1) << 20;

// Threads per row: a warp multiple, about 8 elements per thread, at most 1024.
int threads_for(int64_t c) {
  int t = 32;
  while (t < 1024 && int64_t(t) * 8 < c) t *= 2;
  return t;
}

template <class T, class W>
__global__ void forward_kernel(const T* x, const W* w, float eps, T* y, float* rstd, int64_t n,
                               int64_t c) {
  __shared__ float shared[32];
  for (int64_t row = blockIdx.x; row < n; row += gridDim.x) {
    const T* xr = x + row * c;
    float ss = 0.0f;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      const float v = to_f32(xr[j]);
      ss += v * v;
    }
    ss = block_sum(ss, shared);
    const float r = 1.0f / sqrtf(ss / float(c) + eps);  // IEEE sqrt and divide, as the CPU
    if (threadIdx.x == 0) rstd[row] = r;
    T* yr = y + row * c;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x)
      yr[j] = from_f32<T>(to_f32(xr[j]) * r * to_f32(w[j]));
  }
}

// Block b handles rows b, b + gridDim.x, ... and sums dy * x * rstd of its rows per column
// into partial[b, :] (each thread owns its columns, so no races and a fixed order).
template <class T, class W>
__global__ void backward_kernel(const T* dy, const T* x, const W* w, const float* rstd, T* dx,
                                float* partial, int64_t n, int64_t c) {
  __shared__ float shared[32];
  float* part = partial + int64_t(blockIdx.x) * c;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) part[j] = 0.0f;
  for (int64_t row = blockIdx.x; row < n; row += gridDim.x) {
    const T *dyr = dy + row * c, *xr = x + row * c;
    const float r = rstd[row];
    float dot = 0.0f;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x)
      dot += to_f32(dyr[j]) * to_f32(w[j]) * to_f32(xr[j]);
    dot = block_sum(dot, shared);  // also orders these reads before dx writes (dx may be dy)
    const float k = r * r * r * dot / float(c);
    T* dxr = dx + row * c;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      const float g = to_f32(dyr[j]), xv = to_f32(xr[j]);
      part[j] += g * xv * r;
      dxr[j] = from_f32<T>(r * to_f32(w[j]) * g - k * xv);
    }
  }
}

// dweight[j] += sum over b of partial[b, j], b in increasing order.
template <class G>
__global__ void column_sum_kernel(const float* partial, int64_t blocks, int64_t c, G* dw) {
  NEFT_GRID_STRIDE(j, c) {
    float s = 0.0f;
    for (int64_t b = 0; b < blocks; ++b) s += partial[b * c + j];
    dw[j] = from_f32<G>(to_f32(dw[j]) + s);
  }
}

// x's dtype is dispatched by the caller, the weight's here: one kernel per (T, W) pair.
template <class T>
void launch_forward(const Tensor& x, const Tensor& weight, float eps, Tensor& y, Tensor& rstd) {
  const int64_t n = x.size(0), c = x.size(1);
  const unsigned blocks = unsigned(std::min(n, kMaxRowBlocks));
  NEFT_FLOAT_TYPES(weight.dtype(), W, {
    forward_kernel<T, W><<<blocks, threads_for(c), 0, cuda_detail::stream()>>>(
        x.data<T>(), weight.data<W>(), eps, y.data<T>(), rstd.data<float>(), n, c);
    NEFT_CUDA_LAUNCH_CHECK();
  });
}

template <class T>
void launch_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& rstd,
                     Tensor& dx, Tensor& partial) {
  const int64_t n = x.size(0), c = x.size(1);
  NEFT_FLOAT_TYPES(weight.dtype(), W, {
    backward_kernel<T, W><<<unsigned(partial.size(0)), threads_for(c), 0, cuda_detail::stream()>>>(
        dy.data<T>(), x.data<T>(), weight.data<W>(), rstd.data<float>(), dx.data<T>(),
        partial.data<float>(), n, c);
    NEFT_CUDA_LAUNCH_CHECK();
  });
}
}  // namespace

template <>
void rmsnorm_forward<Device::CUDA>(const Tensor& x, const Tensor& weight, float eps, Tensor& y,
                                   Tensor& rstd) {
  if (x.numel() == 0) return;
  NEFT_FLOAT_TYPES(x.dtype(), T, launch_forward<T>(x, weight, eps, y, rstd));
}

template <>
void rmsnorm_backward<Device::CUDA>(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                    const Tensor& rstd, Tensor& dx, Tensor& dweight) {
  const int64_t n = x.size(0), c = x.size(1);
  if (n == 0 || c == 0) return;
  // Freed to the stream-ordered cache when this returns; later work on the stream is safe.
  Tensor partial = Tensor::empty({std::min(n, kBackwardBlocks), c}, DType::F32, Device::CUDA);
  NEFT_FLOAT_TYPES(x.dtype(), T, launch_backward<T>(dy, x, weight, rstd, dx, partial));
  NEFT_FLOAT_TYPES(dweight.dtype(), G, {
    column_sum_kernel<G><<<blocks_for(c, 256), 256, 0, cuda_detail::stream()>>>(
        partial.data<float>(), partial.size(0), c, dweight.data<G>());
    NEFT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace neft::ops
