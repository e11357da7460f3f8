#include "runtime/ops/cuda/common.cuh"
#include "runtime/ops/elementwise.h"
#include "runtime/rng.h"

namespace neft::ops {

namespace {
using namespace cuda_ops;
constexpr int kThreads = 256;

// One kernel for every elementwise map: out[i] = f(i, x[i]) written as type Out.
template <class In, class Out, class F>
__global__ void map_kernel(const In* x, Out* out, int64_t n, F f) {
  NEFT_GRID_STRIDE(i, n) out[i] = from_f32<Out>(f(i, x ? to_f32(x[i]) : 0.0f, to_f32(out[i])));
}

template <class In, class Out, class F>
void launch_map(const In* x, Out* out, int64_t n, F f) {
  if (n == 0) return;
  map_kernel<<<blocks_for(n, kThreads), kThreads, 0, cuda_detail::stream()>>>(x, out, n, f);
  NEFT_CUDA_LAUNCH_CHECK();
}
}  // namespace

template <>
void fill<Device::CUDA>(Tensor& x, float value) {
  NEFT_FLOAT_TYPES(x.dtype(), T,
                   launch_map<T, T>(nullptr, x.data<T>(), x.numel(),
                                    [=] __device__(int64_t, float, float) { return value; }));
}

template <>
void add<Device::CUDA>(const Tensor& a, const Tensor& b, Tensor& out) {
  NEFT_FLOAT_TYPES(a.dtype(), T, {
    const T* pb = b.data<T>();
    launch_map<T, T>(a.data<T>(), out.data<T>(), a.numel(),
                     [=] __device__(int64_t i, float va, float) { return va + to_f32(pb[i]); });
  });
}

template <>
void scale<Device::CUDA>(Tensor& x, float alpha) {
  NEFT_FLOAT_TYPES(x.dtype(), T,
                   launch_map<T, T>(nullptr, x.data<T>(), x.numel(),
                                    [=] __device__(int64_t, float, float v) { return alpha * v; }));
}

template <>
void axpy<Device::CUDA>(float alpha, const Tensor& x, Tensor& y) {
  NEFT_FLOAT_TYPES(
      x.dtype(), In,
      NEFT_FLOAT_TYPES(y.dtype(), Out,
                       launch_map<In, Out>(x.data<In>(), y.data<Out>(), x.numel(),
                                           [=] __device__(int64_t, float vx, float vy) {
                                             return vy + alpha * vx;
                                           })));
}

template <>
void fill_uniform<Device::CUDA>(Tensor& x, uint64_t seed, uint64_t offset, float lo, float hi) {
  NEFT_FLOAT_TYPES(
      x.dtype(), T,
      launch_map<T, T>(nullptr, x.data<T>(), x.numel(), [=] __device__(int64_t i, float, float) {
        return rng::uniform(seed, offset, uint64_t(i), lo, hi);
      }));
}

template <>
void fill_normal<Device::CUDA>(Tensor& x, uint64_t seed, uint64_t offset, float mean,
                               float stddev) {
  NEFT_FLOAT_TYPES(
      x.dtype(), T,
      launch_map<T, T>(nullptr, x.data<T>(), x.numel(), [=] __device__(int64_t i, float, float) {
        return mean + stddev * rng::normal(seed, offset, uint64_t(i));
      }));
}

}  // namespace neft::ops
