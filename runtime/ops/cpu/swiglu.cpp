#include <cmath>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/cpu/vec_math.h"
#include "runtime/ops/swiglu.h"

namespace neft::ops {

namespace {

// h may alias gate or up element for element, which a simd loop allows.
NEFT_CPU_KERNEL void forward_range(const float* pg, const float* pu, float* ph, int64_t begin,
                                   int64_t end) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const float g = pg[i];
    ph[i] = g * cpu::sigmoid_approx(g) * pu[i];
  }
}

// silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
NEFT_CPU_KERNEL void backward_range(const float* pdh, const float* pg, const float* pu, float* pdg,
                                    float* pdu, int64_t begin, int64_t end) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const float g = pg[i], u = pu[i], d = pdh[i];
    const float s = cpu::sigmoid_approx(g);
    pdg[i] = d * u * s * (1.0f + g * (1.0f - s));
    pdu[i] = d * g * s;
  }
}

}  // namespace

template <>
void swiglu_forward<Device::CPU>(const Tensor& gate, const Tensor& up, Tensor& h) {
  const float *pg = gate.data<float>(), *pu = up.data<float>();
  float* ph = h.data<float>();
  cpu::parallel_range(gate.numel(),
                      [&](int64_t begin, int64_t end) { forward_range(pg, pu, ph, begin, end); });
}

template <>
void swiglu_backward<Device::CPU>(const Tensor& dh, const Tensor& gate, const Tensor& up,
                                  Tensor& dgate, Tensor& dup) {
  const float *pdh = dh.data<float>(), *pg = gate.data<float>(), *pu = up.data<float>();
  float *pdg = dgate.data<float>(), *pdu = dup.data<float>();
  cpu::parallel_range(gate.numel(), [&](int64_t begin, int64_t end) {
    backward_range(pdh, pg, pu, pdg, pdu, begin, end);
  });
}

}  // namespace neft::ops
