// One warp per (row, query, head): each lane holds D/32 of the query and of the output
// accumulator, the score of each key is a warp sum, and the softmax is online (a running
// maximum rescales what was summed so far), so any cache length fits in registers.
#include "runtime/ops/attention_cached.h"
#include "runtime/ops/cuda/common.cuh"

namespace neft::ops {

namespace {
using namespace cuda_ops;

constexpr int kMaxPerLane = 8;  // D <= 256
constexpr int kWarps = 4;

template <class T>
__global__ void attention_cached_kernel(const T* q, const T* k, const T* v, const int32_t* start,
                                        T* out, int64_t B, int64_t t, int64_t Hq, int64_t Hkv,
                                        int64_t D, int64_t capacity, int64_t length, float scale) {
  const int64_t job = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (job >= B * t * Hq) return;
  const int64_t h = job % Hq, i = job / Hq % t, b = job / Hq / t;
  const int64_t column = length - t + i, first = start[b] > 0 ? start[b] : 0;
  const int64_t kh = h / (Hq / Hkv);
  const T* qv = q + ((b * t + i) * Hq + h) * D;
  float qr[kMaxPerLane], acc[kMaxPerLane];
  for (int r = 0; r < kMaxPerLane; ++r) {
    const int64_t d = lane + 32 * r;
    qr[r] = d < D ? to_f32(qv[d]) : 0.0f;
    acc[r] = 0.0f;
  }
  float m = -INFINITY, sum = 0.0f;
  for (int64_t j = first; j <= column; ++j) {
    const T* kv = k + ((b * capacity + j) * Hkv + kh) * D;
    float s = 0.0f;
    for (int r = 0; r < kMaxPerLane; ++r) {
      const int64_t d = lane + 32 * r;
      if (d < D) s += qr[r] * to_f32(kv[d]);
    }
    for (int o = 16; o > 0; o >>= 1) s += shfl_xor(s, o);
    s *= scale;
    const float m_new = fmaxf(m, s), rescale = __expf(m - m_new), p = __expf(s - m_new);
    sum = sum * rescale + p;
    const T* vv = v + ((b * capacity + j) * Hkv + kh) * D;
    for (int r = 0; r < kMaxPerLane; ++r) {
      const int64_t d = lane + 32 * r;
      if (d < D) acc[r] = acc[r] * rescale + p * to_f32(vv[d]);
    }
    m = m_new;
  }
  T* o = out + ((b * t + i) * Hq + h) * D;
  for (int r = 0; r < kMaxPerLane; ++r) {
    const int64_t d = lane + 32 * r;
    if (d < D) o[d] = from_f32<T>(sum > 0.0f ? acc[r] / sum : 0.0f);
  }
}

template <class T>
void launch(const Tensor& q, const Tensor& k, const Tensor& v, int64_t length,
            const Tensor& key_start, Tensor& out) {
  const int64_t B = q.size(0), t = q.size(1), Hq = q.size(2), D = q.size(3);
  const int64_t jobs = B * t * Hq;
  if (jobs == 0) return;
  attention_cached_kernel<T>
      <<<unsigned((jobs + kWarps - 1) / kWarps), 32 * kWarps, 0, cuda_detail::stream()>>>(
          q.data<T>(), k.data<T>(), v.data<T>(), key_start.data<int32_t>(), out.data<T>(), B, t, Hq,
          k.size(2), D, k.size(1), length, 1.0f / sqrtf(float(D)));
  NEFT_CUDA_LAUNCH_CHECK();
}

}  // namespace

template <>
void attention_cached<Device::CUDA>(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                    int64_t length, const Tensor& key_start, Tensor& out) {
  if (q.size(3) > 32 * kMaxPerLane)
    fail("attention_cached: head_dim ", q.size(3), " is above the CUDA kernel's ",
         32 * kMaxPerLane);
  NEFT_FLOAT_TYPES(q.dtype(), T, launch<T>(q, k_cache, v_cache, length, key_start, out));
}

}  // namespace neft::ops
