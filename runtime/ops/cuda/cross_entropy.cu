#include <cmath>

#include "runtime/ops/cross_entropy.h"
#include "runtime/ops/cuda/common.cuh"

namespace neft::ops {

namespace {
using namespace cuda_ops;

// A running (max, sum of exp(x - max)) pair: the online softmax statistics of a row.
struct MaxSum {
  float m, s;
};

__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return {m, 0.0f};  // both empty: avoid exp(-inf - -inf) = nan
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

__device__ __forceinline__ MaxSum shfl_xor(MaxSum v, int lane_mask) {
  return {cuda_ops::shfl_xor(v.m, lane_mask), cuda_ops::shfl_xor(v.s, lane_mask)};
}

// Block-wide merge in a fixed order (same bits every run); every thread gets the result.
__device__ MaxSum block_merge(MaxSum v) {
  __shared__ MaxSum shared[32];
  return block_reduce(
      v, [](MaxSum a, MaxSum b) { return merge(a, b); }, MaxSum{-INFINITY, 0.0f}, shared);
}

// One pass over the row: each thread keeps its own online (max, sum), then the block merges.
template <class T>
__device__ MaxSum row_max_sum(const T* row, int64_t v) {
  float m = -INFINITY, s = 0.0f;
  for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
    const float x = to_f32(row[j]);
    if (x > m) {
      s = s * expf(m - x) + 1.0f;
      m = x;
    } else if (x != -INFINITY) {
      s += expf(x - m);  // a nan x lands here and makes the sum nan, as it should
    }
  }
  return block_merge({m, s});
}

template <class T>
__global__ void stats_kernel(const T* logits, const int32_t* targets, int64_t n_rows, int64_t v,
                             int64_t vocab_start, float* row_max, float* sum_exp,
                             float* target_logit) {
  for (int64_t n = blockIdx.x; n < n_rows; n += gridDim.x) {
    const T* row = logits + n * v;
    const MaxSum st = row_max_sum(row, v);
    if (threadIdx.x == 0) {
      const int64_t local = int64_t(targets[n]) - vocab_start;
      row_max[n] = st.m;
      sum_exp[n] = st.s;
      target_logit[n] = local >= 0 && local < v ? to_f32(row[local]) : 0.0f;
    }
  }
}

template <class T>
__global__ void forward_kernel(const T* logits, const int32_t* targets, int64_t n_rows, int64_t v,
                               int32_t ignore_index, float* losses, float* lse) {
  for (int64_t n = blockIdx.x; n < n_rows; n += gridDim.x) {
    const T* row = logits + n * v;
    const MaxSum st = row_max_sum(row, v);
    if (threadIdx.x == 0) {
      const float l = st.m + logf(st.s);
      const int32_t t = targets[n];
      lse[n] = l;
      // An id outside the vocabulary is the data layer's bug: make it loud, never read it.
      losses[n] = t == ignore_index ? 0.0f : (t >= 0 && t < v ? l - to_f32(row[t]) : NAN);
    }
  }
}

template <class T, class G>
__global__ void backward_kernel(const float* dlosses, const T* logits, const int32_t* targets,
                                const float* lse, int64_t n_rows, int64_t v, int64_t vocab_start,
                                int32_t ignore_index, G* dlogits) {
  for (int64_t n = blockIdx.x; n < n_rows; n += gridDim.x) {
    const T* row = logits + n * v;
    G* drow = dlogits + n * v;
    const int32_t t = targets[n];
    if (t == ignore_index) {
      for (int64_t j = threadIdx.x; j < v; j += blockDim.x) drow[j] = from_f32<G>(0.0f);
      continue;
    }
    const int64_t local = int64_t(t) - vocab_start;
    const float e = lse[n], d = dlosses[n];
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
      const float p = expf(to_f32(row[j]) - e);
      drow[j] = from_f32<G>(d * (j == local ? p - 1.0f : p));
    }
  }
}

// Wide rows (real vocabularies) get more threads per row; the choice depends only on V, so
// the reduction order, and the bits, are fixed for a given shape.
int threads_for(int64_t v) { return v < 1024 ? 128 : 512; }
unsigned row_blocks(int64_t n) { return unsigned(n < (int64_t(1) << 30) ? n : (int64_t(1) << 30)); }

}  // namespace

template <>
void cross_entropy_stats<Device::CUDA>(const Tensor& logits, const Tensor& targets,
                                       int64_t vocab_start, Tensor& row_max, Tensor& sum_exp,
                                       Tensor& target_logit) {
  const int64_t n = logits.size(0), v = logits.size(1);
  if (n == 0) return;
  NEFT_FLOAT_TYPES(logits.dtype(), T, {
    stats_kernel<T><<<row_blocks(n), threads_for(v), 0, cuda_detail::stream()>>>(
        logits.data<T>(), targets.data<int32_t>(), n, v, vocab_start, row_max.data<float>(),
        sum_exp.data<float>(), target_logit.data<float>());
  });
  NEFT_CUDA_LAUNCH_CHECK();
}

template <>
void cross_entropy_forward<Device::CUDA>(const Tensor& logits, const Tensor& targets,
                                         int32_t ignore_index, Tensor& losses, Tensor& lse) {
  const int64_t n = logits.size(0), v = logits.size(1);
  if (n == 0) return;
  NEFT_FLOAT_TYPES(logits.dtype(), T, {
    forward_kernel<T><<<row_blocks(n), threads_for(v), 0, cuda_detail::stream()>>>(
        logits.data<T>(), targets.data<int32_t>(), n, v, ignore_index, losses.data<float>(),
        lse.data<float>());
  });
  NEFT_CUDA_LAUNCH_CHECK();
}

template <>
void cross_entropy_backward<Device::CUDA>(const Tensor& dlosses, const Tensor& logits,
                                          const Tensor& targets, const Tensor& lse,
                                          int64_t vocab_start, int32_t ignore_index,
                                          Tensor& dlogits) {
  const int64_t n = logits.size(0), v = logits.size(1);
  if (n == 0) return;
  NEFT_FLOAT_TYPES(logits.dtype(), T, NEFT_FLOAT_TYPES(dlogits.dtype(), G, {
                     backward_kernel<T, G>
                         <<<row_blocks(n), threads_for(v), 0, cuda_detail::stream()>>>(
                             dlosses.data<float>(), logits.data<T>(), targets.data<int32_t>(),
                             lse.data<float>(), n, v, vocab_start, ignore_index, dlogits.data<G>());
                   }));
  NEFT_CUDA_LAUNCH_CHECK();
}

}  // namespace neft::ops
