#include "runtime/ops/adamw.h"
#include "runtime/ops/cpu/parallel.h"

namespace neft::ops {

template <>
void adamw_update<Device::CPU>(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                               const AdamWParams& p) {
  const adamw_detail::Scalars s = adamw_detail::scalars(p);
  float *pp = param.data<float>(), *pm = m.data<float>(), *pv = v.data<float>();
  const float* pg = grad.data<float>();
  cpu::parallel_for(param.numel(),
                    [&](int64_t i) { pp[i] = adamw_detail::step(s, pp[i], pg[i], pm[i], pv[i]); });
}

template <>
void adamw_update_rows<Device::CPU>(Tensor& master, const Tensor& grad, Tensor& m, Tensor& v,
                                    const AdamWParams& p, const Tensor& idx, int axis,
                                    Tensor& weight) {
  const adamw_detail::Scalars s = adamw_detail::scalars(p);
  const int64_t k = master.size(0), c = master.size(1), r = weight.size(axis);
  float *pp = master.data<float>(), *pm = m.data<float>(), *pv = v.data<float>();
  float* w = weight.data<float>();
  const float* pg = grad.data<float>();
  const int32_t* id = idx.data<int32_t>();
  cpu::parallel_for(k * c, [&](int64_t i) {
    const int64_t row = i / c, col = i % c;
    pp[i] = adamw_detail::step(s, pp[i], pg[i], pm[i], pv[i]);
    // axis 0: weight [R, C] row id; axis 1: weight [C, R] column id.
    w[axis == 0 ? int64_t(id[row]) * c + col : col * r + id[row]] = pp[i];
  });
}

}  // namespace neft::ops
