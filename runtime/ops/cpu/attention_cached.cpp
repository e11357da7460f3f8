// One (row, query, head) at a time: scores against the keys it reads, a max-subtracted
// softmax, then the weighted sum of values, all in f32. Generation's queries are few (one
// per row after the prefill), so the loops stay plain.
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/ops/attention_cached.h"
#include "runtime/ops/cpu/parallel.h"

namespace neft::ops {

template <>
void attention_cached<Device::CPU>(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                   int64_t length, const Tensor& key_start, Tensor& out) {
  const int64_t B = q.size(0), t = q.size(1), Hq = q.size(2), D = q.size(3);
  const int64_t capacity = k_cache.size(1), Hkv = k_cache.size(2), group = Hq / Hkv;
  const float* Q = q.data<float>();
  const float* K = k_cache.data<float>();
  const float* V = v_cache.data<float>();
  const int32_t* start = key_start.data<int32_t>();
  float* O = out.data<float>();
  const float scale = 1.0f / std::sqrt(float(D));
  cpu::parallel_for(
      B * t * Hq,
      [&](int64_t job) {
        const int64_t h = job % Hq, i = job / Hq % t, b = job / Hq / t;
        const int64_t column = length - t + i, first = std::max<int64_t>(start[b], 0);
        const float* qv = Q + ((b * t + i) * Hq + h) * D;
        float* o = O + ((b * t + i) * Hq + h) * D;
        std::fill(o, o + D, 0.0f);
        if (first > column) return;  // padding: nothing to read
        const int64_t kh = h / group;
        auto key = [&](const float* cache, int64_t j) {
          return cache + ((b * capacity + j) * Hkv + kh) * D;
        };
        std::vector<float> p(size_t(column - first + 1));
        float m = -INFINITY;
        for (int64_t j = first; j <= column; ++j) {
          const float* kv = key(K, j);
          float s = 0.0f;
          for (int64_t d = 0; d < D; ++d) s += qv[d] * kv[d];
          p[size_t(j - first)] = s * scale;
          m = std::max(m, s * scale);
        }
        float sum = 0.0f;
        for (float& x : p) sum += (x = std::exp(x - m));
        for (int64_t j = first; j <= column; ++j) {
          const float w = p[size_t(j - first)] / sum;
          const float* vv = key(V, j);
          for (int64_t d = 0; d < D; ++d) o[d] += w * vv[d];
        }
      },
      1);
}

}  // namespace neft::ops
