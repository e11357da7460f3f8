#include <cmath>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/swiglu.h"

namespace neft::ops {

template <>
void swiglu_forward<Device::CPU>(const Tensor& gate, const Tensor& up, Tensor& h) {
  const float *pg = gate.data<float>(), *pu = up.data<float>();
  float* ph = h.data<float>();
  cpu::parallel_for(gate.numel(), [&](int64_t i) {
    const float g = pg[i];
    ph[i] = g * (1.0f / (1.0f + std::exp(-g))) * pu[i];
  });
}

// silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
template <>
void swiglu_backward<Device::CPU>(const Tensor& dh, const Tensor& gate, const Tensor& up,
                                  Tensor& dgate, Tensor& dup) {
  const float *pdh = dh.data<float>(), *pg = gate.data<float>(), *pu = up.data<float>();
  float *pdg = dgate.data<float>(), *pdu = dup.data<float>();
  cpu::parallel_for(gate.numel(), [&](int64_t i) {
    const float g = pg[i], u = pu[i], d = pdh[i];
    const float s = 1.0f / (1.0f + std::exp(-g));
    pdg[i] = d * u * s * (1.0f + g * (1.0f - s));
    pdu[i] = d * g * s;
  });
}

}  // namespace neft::ops
