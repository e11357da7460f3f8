#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/ops/attention.h"

namespace neft::ops {

namespace {

// Sizes and strides of one call: q/out/dq rows are (b, t, h), k/v/dk/dv rows (b, t, kvh).
struct Dims {
  int64_t B, T, Hq, Hkv, D, group;
  float scale;
  explicit Dims(const Tensor& q, const Tensor& k)
      : B(q.size(0)),
        T(q.size(1)),
        Hq(q.size(2)),
        Hkv(k.size(2)),
        D(q.size(3)),
        group(Hq / Hkv),
        scale(1.0f / std::sqrt(float(q.size(3)))) {}
  int64_t q_row(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * Hq + h) * D; }
  int64_t kv_row(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * Hkv + h) * D; }
  int64_t stat(int64_t b, int64_t h, int64_t t) const { return (b * Hq + h) * T + t; }
  // Multiply-adds of one pass over the causal triangle: waking the threads only pays above
  // a few tens of thousands.
  bool parallel() const { return B * Hq * T * (T + 1) / 2 * D >= 32768; }
};

float dot(const float* a, const float* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_row(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace

// One query row at a time: its T scores in a per-thread buffer, O(T + D) memory per thread.
// Rows are handed out dynamically since causal rows grow in cost with the position.
template <>
void attention_forward<Device::CPU>(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                                    Tensor& lse) {
  const Dims d(q, k);
  const float *pq = q.data<float>(), *pk = k.data<float>(), *pv = v.data<float>();
  float *po = out.data<float>(), *pl = lse.data<float>();
  const int64_t rows = d.B * d.Hq * d.T;
#pragma omp parallel if (d.parallel())
  {
    std::vector<float> s(size_t(d.T));
#pragma omp for schedule(dynamic, 8)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r % d.T, h = (r / d.T) % d.Hq, b = r / (d.T * d.Hq), g = h / d.group;
      const float* qi = pq + d.q_row(b, i, h);
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j <= i; ++j) {
        s[j] = d.scale * dot(qi, pk + d.kv_row(b, j, g), d.D);
        m = std::max(m, s[j]);
      }
      float* oi = po + d.q_row(b, i, h);
      for (int64_t c = 0; c < d.D; ++c) oi[c] = 0;
      float l = 0;
      for (int64_t j = 0; j <= i; ++j) {
        const float p = std::exp(s[j] - m);
        l += p;
        axpy_row(p, pv + d.kv_row(b, j, g), oi, d.D);
      }
      for (int64_t c = 0; c < d.D; ++c) oi[c] /= l;
      pl[d.stat(b, h, i)] = m + std::log(l);
    }
  }
}

// With P = exp(S - lse), dP = dO V^T and dS = P * (dP - rowsum(dO * O)):
//   dQ = scale dS K,  dK = scale dS^T Q,  dV = P^T dO.
// dQ is computed per query row and dK/dV per key row (walking the column of the causal
// triangle over every query head of the group), so each output row has one writer and
// nothing is summed across threads. Probabilities are recomputed in both passes.
template <>
void attention_backward<Device::CPU>(const Tensor& dout, const Tensor& q, const Tensor& k,
                                     const Tensor& v, const Tensor& out, const Tensor& lse,
                                     Tensor& dq, Tensor& dk, Tensor& dv) {
  const Dims d(q, k);
  const float *pdo = dout.data<float>(), *pq = q.data<float>(), *pk = k.data<float>(),
              *pv = v.data<float>(), *po = out.data<float>(), *pl = lse.data<float>();
  float *pdq = dq.data<float>(), *pdk = dk.data<float>(), *pdv = dv.data<float>();
  const int64_t q_rows = d.B * d.Hq * d.T, kv_rows = d.B * d.Hkv * d.T;
  std::vector<float> delta(static_cast<size_t>(q_rows));  // rowsum(dO * O), indexed like lse
#pragma omp parallel if (d.parallel())
  {
#pragma omp for schedule(static)
    for (int64_t r = 0; r < q_rows; ++r) {
      const int64_t i = r % d.T, h = (r / d.T) % d.Hq, b = r / (d.T * d.Hq);
      delta[r] = dot(pdo + d.q_row(b, i, h), po + d.q_row(b, i, h), d.D);
    }

#pragma omp for schedule(dynamic, 8)
    for (int64_t r = 0; r < q_rows; ++r) {
      const int64_t i = r % d.T, h = (r / d.T) % d.Hq, b = r / (d.T * d.Hq), g = h / d.group;
      const float *qi = pq + d.q_row(b, i, h), *doi = pdo + d.q_row(b, i, h);
      float* dqi = pdq + d.q_row(b, i, h);
      for (int64_t c = 0; c < d.D; ++c) dqi[c] = 0;
      for (int64_t j = 0; j <= i; ++j) {
        const float *kj = pk + d.kv_row(b, j, g), *vj = pv + d.kv_row(b, j, g);
        const float p = std::exp(d.scale * dot(qi, kj, d.D) - pl[r]);
        const float ds = p * (dot(doi, vj, d.D) - delta[r]);
        axpy_row(ds, kj, dqi, d.D);
      }
      for (int64_t c = 0; c < d.D; ++c) dqi[c] *= d.scale;
    }

#pragma omp for schedule(dynamic, 8)
    for (int64_t r = 0; r < kv_rows; ++r) {
      const int64_t j = r % d.T, g = (r / d.T) % d.Hkv, b = r / (d.T * d.Hkv);
      const float *kj = pk + d.kv_row(b, j, g), *vj = pv + d.kv_row(b, j, g);
      float *dkj = pdk + d.kv_row(b, j, g), *dvj = pdv + d.kv_row(b, j, g);
      for (int64_t c = 0; c < d.D; ++c) dkj[c] = dvj[c] = 0;
      for (int64_t h = g * d.group; h < (g + 1) * d.group; ++h) {
        for (int64_t i = j; i < d.T; ++i) {
          const float *qi = pq + d.q_row(b, i, h), *doi = pdo + d.q_row(b, i, h);
          const int64_t st = d.stat(b, h, i);
          const float p = std::exp(d.scale * dot(qi, kj, d.D) - pl[st]);
          const float ds = p * (dot(doi, vj, d.D) - delta[st]);
          axpy_row(p, doi, dvj, d.D);
          axpy_row(ds, qi, dkj, d.D);
        }
      }
      for (int64_t c = 0; c < d.D; ++c) dkj[c] *= d.scale;
    }
  }
}

}  // namespace neft::ops
