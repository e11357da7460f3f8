// Dtype conversion between the float dtypes (f32, bf16, f16, any direction), with round to
// nearest even; NaN stays NaN (with the host conversions' bits: runtime/dtype.h, on both
// devices), overflow becomes inf, f16 keeps subnormals. Unlike most ops the CPU takes every
// float dtype here: it is how host code produces and reads bf16/f16 tensors.
#pragma once
#include "runtime/tensor.h"

namespace neft::ops {

// dst = src converted to dst's dtype; same element count (shapes may differ). Overwrites dst.
void cast(const Tensor& src, Tensor& dst);

template <Device D>
void cast(const Tensor& src, Tensor& dst);

}  // namespace neft::ops
