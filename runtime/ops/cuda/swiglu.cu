#include "runtime/ops/cuda/common.cuh"
#include "runtime/ops/swiglu.h"

namespace neft::ops {

namespace {
using namespace cuda_ops;
constexpr int kThreads = 256;

// expf rather than __expf: CUDA must match the CPU to about 1e-6.
__device__ __forceinline__ float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

template <class T>
__global__ void forward_kernel(const T* gate, const T* up, T* h, int64_t n) {
  NEFT_GRID_STRIDE(i, n) {
    const float g = to_f32(gate[i]);
    h[i] = from_f32<T>(g * sigmoid(g) * to_f32(up[i]));
  }
}

// Every element is read before it is written by the same thread, so dgate may be dh.
template <class T>
__global__ void backward_kernel(const T* dh, const T* gate, const T* up, T* dgate, T* dup,
                                int64_t n) {
  NEFT_GRID_STRIDE(i, n) {
    const float g = to_f32(gate[i]), u = to_f32(up[i]), d = to_f32(dh[i]);
    const float s = sigmoid(g);
    dgate[i] = from_f32<T>(d * u * s * (1.0f + g * (1.0f - s)));
    dup[i] = from_f32<T>(d * g * s);
  }
}
}  // namespace

template <>
void swiglu_forward<Device::CUDA>(const Tensor& gate, const Tensor& up, Tensor& h) {
  const int64_t n = gate.numel();
  if (n == 0) return;
  NEFT_FLOAT_TYPES(gate.dtype(), T, {
    forward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, cuda_detail::stream()>>>(
        gate.data<T>(), up.data<T>(), h.data<T>(), n);
    NEFT_CUDA_LAUNCH_CHECK();
  });
}

template <>
void swiglu_backward<Device::CUDA>(const Tensor& dh, const Tensor& gate, const Tensor& up,
                                   Tensor& dgate, Tensor& dup) {
  const int64_t n = gate.numel();
  if (n == 0) return;
  NEFT_FLOAT_TYPES(gate.dtype(), T, {
    backward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, cuda_detail::stream()>>>(
        dh.data<T>(), gate.data<T>(), up.data<T>(), dgate.data<T>(), dup.data<T>(), n);
    NEFT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace neft::ops
