#include "runtime/ops/elementwise.h"

#include "runtime/ops/cpu/parallel.h"
#include "runtime/rng.h"

namespace neft::ops {

using cpu::parallel_for;

template <>
void fill<Device::CPU>(Tensor& x, float value) {
  float* p = x.data<float>();
  parallel_for(x.numel(), [&](int64_t i) { p[i] = value; });
}

template <>
void add<Device::CPU>(const Tensor& a, const Tensor& b, Tensor& out) {
  const float *pa = a.data<float>(), *pb = b.data<float>();
  float* po = out.data<float>();
  parallel_for(a.numel(), [&](int64_t i) { po[i] = pa[i] + pb[i]; });
}

template <>
void scale<Device::CPU>(Tensor& x, float alpha) {
  float* p = x.data<float>();
  parallel_for(x.numel(), [&](int64_t i) { p[i] *= alpha; });
}

template <>
void axpy<Device::CPU>(float alpha, const Tensor& x, Tensor& y) {
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(x.numel(), [&](int64_t i) { py[i] += alpha * px[i]; });
}

template <>
void fill_uniform<Device::CPU>(Tensor& x, uint64_t seed, uint64_t offset, float lo, float hi) {
  float* p = x.data<float>();
  parallel_for(x.numel(),
               [&](int64_t i) { p[i] = rng::uniform(seed, offset, uint64_t(i), lo, hi); });
}

template <>
void fill_normal<Device::CPU>(Tensor& x, uint64_t seed, uint64_t offset, float mean, float stddev) {
  float* p = x.data<float>();
  parallel_for(x.numel(),
               [&](int64_t i) { p[i] = mean + stddev * rng::normal(seed, offset, uint64_t(i)); });
}

template <>
void dropout<Device::CPU>(const Tensor& x, const DropoutMask& mask, Tensor& out) {
  const float* px = x.data<float>();
  float* po = out.data<float>();
  const int64_t cols = x.size(1);
  const float scale = mask.scale();
  parallel_for(x.numel(), [&](int64_t i) {
    const uint64_t whole = uint64_t(i / cols * mask.full_cols + mask.col0 + i % cols);
    po[i] = rng::keep(mask.seed, mask.offset, whole, mask.p) ? px[i] * scale : 0.0f;
  });
}

}  // namespace neft::ops
