// The selected-neuron primitives: copy K chosen rows (or columns) of a matrix out to a
// compact [K, ...] tensor and back. idx is [K] i32 with distinct ids, each in range; the
// CPU checks both, on CUDA they are the caller's duty (checking would cost a device sync),
// and a repeated id there makes the order of the writes to that row unspecified.
// CPU: f32. CUDA: src and dst may be any two float dtypes (e.g. f32 master rows scattered
// into bf16 weights), converted on the way with round to nearest even.
#pragma once
#include "runtime/tensor.h"

namespace neft::ops {

// src [R, C] -> dst [K, C]: dst[k, :] = src[idx[k], :]. Overwrites dst.
void gather_rows(const Tensor& src, const Tensor& idx, Tensor& dst);
// src [K, C] -> dst [R, C]: dst[idx[k], :] = src[k, :] (or += with accumulate). Other rows
// of dst are untouched.
void scatter_rows(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate = false);
// src [R, C] -> dst [R, K]: dst[:, k] = src[:, idx[k]]. Overwrites dst.
void gather_cols(const Tensor& src, const Tensor& idx, Tensor& dst);
// src [R, K] -> dst [R, C]: dst[:, idx[k]] = src[:, k] (or += with accumulate). Other columns
// of dst are untouched.
void scatter_cols(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate = false);

template <Device D>
void gather_rows(const Tensor& src, const Tensor& idx, Tensor& dst);
template <Device D>
void scatter_rows(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate);
template <Device D>
void gather_cols(const Tensor& src, const Tensor& idx, Tensor& dst);
template <Device D>
void scatter_cols(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate);

}  // namespace neft::ops
