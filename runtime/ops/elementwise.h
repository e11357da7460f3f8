// Elementwise ops over whole tensors (any shape, contiguous): fill, add, scale, axpy and
// the seeded random fills (runtime/rng.h). CPU: f32, OpenMP over both cores. CUDA: f32,
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

}  // namespace neft::ops
