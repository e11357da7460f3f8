// Elementwise ops over whole tensors (any shape, contiguous): fill, add, scale, axpy, the
// seeded random fills and dropout (runtime/rng.h). CPU: f32, OpenMP over both cores. CUDA: f32,
// bf16, f16 with fp32 arithmetic; axpy may read one float dtype and write another.
#pragma once
#include <cstdint>

#include "runtime/tensor.h"

namespace neft::ops {

void fill(Tensor& x, float value);
void add(const Tensor& a, const Tensor& b, Tensor& out);  // out = a + b; out may be a or b
void scale(Tensor& x, float alpha);                       // x *= alpha
void axpy(float alpha, const Tensor& x, Tensor& y);       // y += alpha * x
// Element i gets Philox draw (seed, offset, i): the same values on CPU and CUDA.
void fill_uniform(Tensor& x, uint64_t seed, uint64_t offset, float lo, float hi);
void fill_normal(Tensor& x, uint64_t seed, uint64_t offset, float mean, float stddev);

// The mask of inverted dropout (torch's, PEFT's) over a [rows, full_cols] whole: its element
// (i, j) is kept unless rng::keep(seed, offset, i * full_cols + j, p) says otherwise. A tensor
// holding the columns [col0, col0 + cols) of the whole reads its part of the one mask, so the
// whole's entries are dropped alike however its columns are split over ranks.
struct DropoutMask {
  float p = 0;  // 0 <= p < 1
  uint64_t seed = 0, offset = 0;
  int64_t full_cols = 0, col0 = 0;
  // 1 / (1 - p), rounded once on the host so that every backend scales by the same float.
  float scale() const { return float(1.0 / (1.0 - double(p))); }
};
// out = x * mask * scale, x and out [rows, cols] (the columns [col0, col0 + cols) of the
// mask's whole); out may be x. Its own backward: the same call on the output's gradient.
void dropout(const Tensor& x, const DropoutMask& mask, Tensor& out);

template <Device D>
void fill(Tensor& x, float value);
template <Device D>
void add(const Tensor& a, const Tensor& b, Tensor& out);
template <Device D>
void scale(Tensor& x, float alpha);
template <Device D>
void axpy(float alpha, const Tensor& x, Tensor& y);
template <Device D>
void fill_uniform(Tensor& x, uint64_t seed, uint64_t offset, float lo, float hi);
template <Device D>
void fill_normal(Tensor& x, uint64_t seed, uint64_t offset, float mean, float stddev);
template <Device D>
void dropout(const Tensor& x, const DropoutMask& mask, Tensor& out);

}  // namespace neft::ops
