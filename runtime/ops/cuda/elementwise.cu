#include "runtime/ops/cuda/common.cuh"
#include "runtime/ops/elementwise.h"
#include "runtime/rng.h"

namespace neft::ops {

namespace {
using namespace cuda_ops;
constexpr int kThreads = 256;

// One kernel for every elementwise map: out[i] = f(i) written as type Out. The functor
// reads what it needs itself, so the fills do not read the memory they overwrite.
template <class Out, class F>
__global__ void map_kernel(Out* out, int64_t n, F f) {
  NEFT_GRID_STRIDE(i, n) out[i] = from_f32<Out>(f(i));
}

template <class Out, class F>
void launch_map(Out* out, int64_t n, F f) {
  if (n == 0) return;
  map_kernel<<<blocks_for(n, kThreads), kThreads, 0, cuda_detail::stream()>>>(out, n, f);
  NEFT_CUDA_LAUNCH_CHECK();
}
}  // namespace

template <>
void fill<Device::CUDA>(Tensor& x, float value) {
  NEFT_FLOAT_TYPES(x.dtype(), T,
                   launch_map(x.data<T>(), x.numel(), [=] __device__(int64_t) { return value; }));
}

template <>
void add<Device::CUDA>(const Tensor& a, const Tensor& b, Tensor& out) {
  NEFT_FLOAT_TYPES(a.dtype(), T, {
    const T *pa = a.data<T>(), *pb = b.data<T>();
    launch_map(out.data<T>(), a.numel(),
               [=] __device__(int64_t i) { return to_f32(pa[i]) + to_f32(pb[i]); });
  });
}

template <>
void scale<Device::CUDA>(Tensor& x, float alpha) {
  NEFT_FLOAT_TYPES(x.dtype(), T, {
    T* p = x.data<T>();
    launch_map(p, x.numel(), [=] __device__(int64_t i) { return alpha * to_f32(p[i]); });
  });
}

template <>
void axpy<Device::CUDA>(float alpha, const Tensor& x, Tensor& y) {
  NEFT_FLOAT_TYPES(x.dtype(), In, NEFT_FLOAT_TYPES(y.dtype(), Out, {
                     const In* px = x.data<In>();
                     Out* py = y.data<Out>();
                     launch_map(py, x.numel(), [=] __device__(int64_t i) {
                       return to_f32(py[i]) + alpha * to_f32(px[i]);
                     });
                   }));
}

template <>
void fill_uniform<Device::CUDA>(Tensor& x, uint64_t seed, uint64_t offset, float lo, float hi) {
  NEFT_FLOAT_TYPES(x.dtype(), T, launch_map(x.data<T>(), x.numel(), [=] __device__(int64_t i) {
                     return rng::uniform(seed, offset, uint64_t(i), lo, hi);
                   }));
}

template <>
void fill_normal<Device::CUDA>(Tensor& x, uint64_t seed, uint64_t offset, float mean,
                               float stddev) {
  NEFT_FLOAT_TYPES(x.dtype(), T, launch_map(x.data<T>(), x.numel(), [=] __device__(int64_t i) {
                     return mean + stddev * rng::normal(seed, offset, uint64_t(i));
                   }));
}

template <>
void dropout<Device::CUDA>(const Tensor& x, const DropoutMask& mask, Tensor& out) {
  const int64_t cols = x.size(1), full_cols = mask.full_cols, col0 = mask.col0;
  const uint64_t seed = mask.seed, offset = mask.offset;
  const float p = mask.p, scale = mask.scale();
  NEFT_FLOAT_TYPES(x.dtype(), T, {
    const T* px = x.data<T>();
    launch_map(out.data<T>(), x.numel(), [=] __device__(int64_t i) {
      const uint64_t whole = uint64_t(i / cols * full_cols + col0 + i % cols);
      return rng::keep(seed, offset, whole, p) ? to_f32(px[i]) * scale : 0.0f;
    });
  });
}

}  // namespace neft::ops
