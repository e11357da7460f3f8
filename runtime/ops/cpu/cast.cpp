#include <cstring>

#include "runtime/ops/cast.h"
#include "runtime/ops/cpu/parallel.h"

namespace neft::ops {

namespace {

float load(float x) { return x; }
float load(bf16 x) { return bf16_bits_to_f32(x.bits); }
float load(f16 x) { return f16_bits_to_f32(x.bits); }

template <class T>
T store(float x);
template <>
float store<float>(float x) {
  return x;
}
template <>
bf16 store<bf16>(float x) {
  return bf16{f32_to_bf16_bits(x)};
}
template <>
f16 store<f16>(float x) {
  return f16{f32_to_f16_bits(x)};
}

template <class S, class D>
void convert(const Tensor& src, Tensor& dst) {
  const S* s = src.data<S>();
  D* d = dst.data<D>();
  cpu::parallel_for(src.numel(), [&](int64_t i) { d[i] = store<D>(load(s[i])); });
}

template <class S>
void convert_from(const Tensor& src, Tensor& dst) {
  switch (dst.dtype()) {
    case DType::F32:
      return convert<S, float>(src, dst);
    case DType::BF16:
      return convert<S, bf16>(src, dst);
    case DType::F16:
      return convert<S, f16>(src, dst);
    default:
      fail("cast: dst ", dst.str(), " is not a float dtype");
  }
}

}  // namespace

template <>
void cast<Device::CPU>(const Tensor& src, Tensor& dst) {
  // Same dtype: the bits as they are (a NaN payload included).
  if (src.dtype() == dst.dtype()) {
    if (src.nbytes()) std::memmove(dst.raw(), src.raw(), src.nbytes());
    return;
  }
  switch (src.dtype()) {
    case DType::F32:
      return convert_from<float>(src, dst);
    case DType::BF16:
      return convert_from<bf16>(src, dst);
    case DType::F16:
      return convert_from<f16>(src, dst);
    default:
      fail("cast: src ", src.str(), " is not a float dtype");
  }
}

}  // namespace neft::ops
