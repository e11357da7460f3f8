#include <algorithm>

#include "runtime/ops/adamw.h"
#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/cpu/vec_math.h"

namespace neft::ops {

namespace {

// Elements [begin, end) of one flat update: adamw_detail::step's arithmetic in the same
// order, split at the square root, which gets a vector loop of its own (cpu::sqrt_n)
// between two simd loops. Deliberately not a NEFT_CPU_KERNEL: the update is memory-bound
// anyway, and without FMA contraction it matches adamw_detail::step bit for bit on every
// machine.
void update_range(const adamw_detail::Scalars& s_in, float* p, const float* g, float* m, float* v,
                  int64_t begin, int64_t end) {
  const adamw_detail::Scalars s = s_in;
  constexpr int64_t kBlock = 256;
  float root[kBlock];
  for (int64_t b0 = begin; b0 < end; b0 += kBlock) {
    const int64_t b1 = std::min(end, b0 + kBlock);
#pragma omp simd
    for (int64_t i = b0; i < b1; ++i) {
      const float gi = g[i] * s.scale;
      m[i] = s.beta1 * m[i] + s.one_minus_beta1 * gi;
      v[i] = s.beta2 * v[i] + s.one_minus_beta2 * gi * gi;
    }
    cpu::sqrt_n(v + b0, root, b1 - b0);
#pragma omp simd
    for (int64_t i = b0; i < b1; ++i) {
      const float denom = root[i - b0] / s.bc2_sqrt + s.eps;
      p[i] = p[i] * s.decay - s.step_size * (m[i] / denom);
    }
  }
}

}  // namespace

template <>
void adamw_update<Device::CPU>(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                               const AdamWParams& p) {
  const adamw_detail::Scalars s = adamw_detail::scalars(p);
  float *pp = param.data<float>(), *pm = m.data<float>(), *pv = v.data<float>();
  const float* pg = grad.data<float>();
  cpu::parallel_range(param.numel(), [&](int64_t begin, int64_t end) {
    update_range(s, pp, pg, pm, pv, begin, end);
  });
}

// axis 0: each updated row is copied to its weight row. axis 1: the rows are updated first,
// then written out a tile of weight rows (master columns) at a time, so that the random
// positions written in one weight row share its cache lines instead of each costing a
// line of its own.
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
  const int64_t row_grain = std::max<int64_t>(1, cpu::kParallelGrain / std::max<int64_t>(c, 1));
  cpu::parallel_for(
      k,
      [&](int64_t row) {
        const int64_t begin = row * c;
        update_range(s, pp, pg, pm, pv, begin, begin + c);
        // weight [R, C]: row id[row].
        if (axis == 0) std::copy_n(pp + begin, c, w + int64_t(id[row]) * c);
      },
      row_grain);
  if (axis == 0) return;
  // weight [C, R]: column id[row]. A tile of 16 master columns (one cache line of each row)
  // at a time: the tile's weight rows stay cached while every row scatters its line into
  // them. Master rows are far apart, beyond the hardware prefetcher's reach, so the lines a
  // few rows ahead are prefetched by hand.
  constexpr int64_t kTile = 16, kAhead = 16;
  auto scatter_tile = [&](int64_t t) {
    const int64_t col0 = t * kTile, n = std::min(c, col0 + kTile) - col0;
    float* wt = w + col0 * r;
    for (int64_t row = 0; row < k; ++row) {
      if (row + kAhead < k) __builtin_prefetch(pp + (row + kAhead) * c + col0);
      const float* src = pp + row * c + col0;
      const int64_t to = id[row];
      for (int64_t j = 0; j < n; ++j) wt[j * r + to] = src[j];
    }
  };
  cpu::parallel_for((c + kTile - 1) / kTile, scatter_tile,
                    std::max<int64_t>(1, cpu::kParallelGrain / std::max<int64_t>(k * kTile, 1)));
}

}  // namespace neft::ops
