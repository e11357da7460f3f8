// FlashAttention-2 style causal attention: the T x T scores live only in shared-memory
// tiles. Plain CUDA with fp32 FMAs (no tensor cores): correctness and clarity first.
//
// With document starts, query t sees keys [start(t), t]. Starts never decrease along a row,
// so a query tile's first query has the earliest start: the tiles before it are skipped, and
// a key tile stops at the first query tile that starts after it.
//
// Every kernel works on square tiles of kRows queries by kRows keys with 256 threads:
// tile row r (a query, or a key in the dK/dV kernel) belongs to kLanes consecutive lanes
// of one warp. In the score phase lane l of row r scores columns l, l + kLanes, ...; in the
// accumulation phase it owns output features l, l + kLanes, ... Rows are padded by one
// float in shared memory so that the rows read by one warp fall in distinct banks.
//
// Backward runs three kernels, none with atomics, so gradients are deterministic:
//   delta = rowsum(dO * O), one thread per row;
//   dK, dV: one block per (b, kv head, key tile), looping over every query head of the
//           group and every query tile at or after the key tile;
//   dQ:     one block per (b, head, query tile), looping over key tiles up to the diagonal.
#include <cmath>
#include <type_traits>

#include "runtime/ops/attention.h"
#include "runtime/ops/cuda/common.cuh"

namespace neft::ops {

namespace {
using namespace cuda_ops;

constexpr int kThreads = 256;

template <int D>
struct Tile {
  static constexpr int kRows = D <= 64 ? 64 : 32;  // queries (keys) per tile
  static constexpr int kLanes = kThreads / kRows;  // threads per tile row: 4 or 8
  static constexpr int kPerLane = kRows / kLanes;  // scores per thread per tile
  static constexpr int kCols = D / kLanes;         // output features per thread
  static constexpr int kLd = D + 1;                // padded feature row
  static constexpr int kLdS = kRows + 1;           // padded score row
  static_assert(kThreads % kRows == 0 && 32 % kLanes == 0 && D % kLanes == 0);
};

struct Dims {
  int B, T, Hq, Hkv, group;
  float scale;
  const int* starts;  // [B, T] document starts, or nullptr: every document starts at 0
};

// The first key query t of row b sees (t < T).
__device__ __forceinline__ int doc_start(const Dims& d, int b, int t) {
  return d.starts ? d.starts[int64_t(b) * d.T + t] : 0;
}

// Element (b, t, h, c) of a [B, T, H, D] tensor.
__device__ __forceinline__ int64_t at(int b, int t, int h, int c, int T, int H, int D) {
  return ((int64_t(b) * T + t) * H + h) * D + c;
}

// Rows [t0, t0 + kRows) of head h of x [B, T, H, D] into shared memory as f32, zeros past T.
template <int D, class E>
__device__ void load_tile(float* dst, const E* x, int b, int t0, int h, int H, int T) {
  using G = Tile<D>;
  for (int i = threadIdx.x; i < G::kRows * D; i += blockDim.x) {
    const int r = i / D, c = i % D, t = t0 + r;
    dst[r * G::kLd + c] = t < T ? to_f32(x[at(b, t, h, c, T, H, D)]) : 0.0f;
  }
}

// Same for a per-row statistic stat [B, Hq, T].
template <int D>
__device__ void load_stat(float* dst, const float* stat, int b, int h, int t0, const Dims& d) {
  for (int i = threadIdx.x; i < Tile<D>::kRows; i += blockDim.x)
    dst[i] = t0 + i < d.T ? stat[(int64_t(b) * d.Hq + h) * d.T + t0 + i] : 0.0f;
}

// Combines a value over the kLanes lanes of one tile row (consecutive, aligned lanes).
template <int kLanes, class Op>
__device__ __forceinline__ float row_reduce(float x, Op op) {
#pragma unroll
  for (int off = kLanes / 2; off > 0; off /= 2) x = op(x, __shfl_xor_sync(0xffffffffu, x, off));
  return x;
}

template <int D>
size_t forward_smem() {
  using G = Tile<D>;
  return sizeof(float) * (3 * G::kRows * G::kLd + G::kRows * G::kLdS);
}

// Grid (B * Hq, query tiles); the longest (last) query tiles are scheduled first.
template <int D, class E>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(const E* q, const E* k, const E* v, E* out, float* lse, Dims d) {
  using G = Tile<D>;
  extern __shared__ float smem[];
  float* sq = smem;
  float* sk = sq + G::kRows * G::kLd;
  float* sv = sk + G::kRows * G::kLd;
  float* sp = sv + G::kRows * G::kLd;  // probabilities [query][key]

  const int b = blockIdx.x / d.Hq, h = blockIdx.x % d.Hq, g = h / d.group;
  const int q0 = (int(gridDim.y) - 1 - int(blockIdx.y)) * G::kRows;
  const int r = threadIdx.x / G::kLanes, lane = threadIdx.x % G::kLanes;
  const int qi = q0 + r;
  load_tile<D>(sq, q, b, q0, h, d.Hq, d.T);

  const int start = qi < d.T ? doc_start(d, b, qi) : 0;

  // Online softmax state of row r, kept identically by its kLanes threads. m stays -inf
  // while the row has seen no key of its document (only with document starts).
  float m = -INFINITY, l = 0.0f, acc[G::kCols];
#pragma unroll
  for (int cc = 0; cc < G::kCols; ++cc) acc[cc] = 0.0f;

  const int key_tiles = (min(q0 + G::kRows, d.T) - 1) / G::kRows + 1;  // causal: skip the rest
  for (int kt = doc_start(d, b, q0) / G::kRows; kt < key_tiles; ++kt) {
    const int k0 = kt * G::kRows;
    __syncthreads();  // everyone is done with the previous K/V tile
    load_tile<D>(sk, k, b, k0, g, d.Hkv, d.T);
    load_tile<D>(sv, v, b, k0, g, d.Hkv, d.T);
    __syncthreads();

    float s[G::kPerLane];
#pragma unroll
    for (int jj = 0; jj < G::kPerLane; ++jj) s[jj] = 0.0f;
    const float* qrow = sq + r * G::kLd;
#pragma unroll 4
    for (int c = 0; c < D; ++c) {
      const float qc = qrow[c];
#pragma unroll
      for (int jj = 0; jj < G::kPerLane; ++jj)
        s[jj] += qc * sk[(lane + jj * G::kLanes) * G::kLd + c];
    }
    float tile_max = -INFINITY;
#pragma unroll
    for (int jj = 0; jj < G::kPerLane; ++jj) {
      const int kj = k0 + lane + jj * G::kLanes;
      s[jj] = kj >= start && kj <= qi && kj < d.T ? s[jj] * d.scale : -INFINITY;
      tile_max = fmaxf(tile_max, s[jj]);
    }
    const float m_new =
        fmaxf(m, row_reduce<G::kLanes>(tile_max, [](float x, float y) { return fmaxf(x, y); }));
    // A row with no key yet subtracts 0 instead of -inf: p and alpha come out 0, not NaN.
    const float m_use = m_new == -INFINITY ? 0.0f : m_new;
    float tile_sum = 0.0f;
    float* prow = sp + r * G::kLdS;
#pragma unroll
    for (int jj = 0; jj < G::kPerLane; ++jj) {
      const float p = expf(s[jj] - m_use);
      prow[lane + jj * G::kLanes] = p;
      tile_sum += p;
    }
    const float alpha = expf(m - m_use);
    l = l * alpha + row_reduce<G::kLanes>(tile_sum, [](float x, float y) { return x + y; });
    m = m_new;
    __syncwarp();  // row r's probabilities were written by its own warp

#pragma unroll
    for (int cc = 0; cc < G::kCols; ++cc) acc[cc] *= alpha;
    for (int j = 0; j < G::kRows; ++j) {
      const float p = prow[j];
      const float* vrow = sv + j * G::kLd + lane;
#pragma unroll
      for (int cc = 0; cc < G::kCols; ++cc) acc[cc] += p * vrow[cc * G::kLanes];
    }
  }

  if (qi < d.T) {
    const float inv = 1.0f / l;
#pragma unroll
    for (int cc = 0; cc < G::kCols; ++cc)
      out[at(b, qi, h, lane + cc * G::kLanes, d.T, d.Hq, D)] = from_f32<E>(acc[cc] * inv);
    if (lane == 0) lse[(int64_t(b) * d.Hq + h) * d.T + qi] = m + logf(l);
  }
}

// delta[b, h, t] = sum_c dO[b, t, h, c] * O[b, t, h, c], one thread per row. The sum runs
// in the same order as the dO . V dot products of the other kernels, so a row that sees a
// single key (where O = V and the gradient is exactly zero) gets dP - delta = 0 exactly.
template <class E>
__global__ void delta_kernel(const E* dout, const E* out, float* delta, int64_t rows, int D, int T,
                             int Hq) {
  NEFT_GRID_STRIDE(row, rows) {
    float s = 0.0f;
    for (int c = 0; c < D; ++c) s += to_f32(dout[row * D + c]) * to_f32(out[row * D + c]);
    const int64_t h = row % Hq, t = (row / Hq) % T, b = row / (int64_t(Hq) * T);
    delta[(b * Hq + h) * T + t] = s;
  }
}

template <int D>
size_t dkdv_smem() {
  using G = Tile<D>;
  return sizeof(float) * (4 * G::kRows * G::kLd + 2 * G::kRows * G::kLdS + 2 * G::kRows);
}

// Grid (B * Hkv, key tiles); tile row r is a key. The first key tiles see the most queries
// and are scheduled first.
template <int D, class E>
__global__ void __launch_bounds__(kThreads)
    dkdv_kernel(const E* dout, const E* q, const E* k, const E* v, const float* lse,
                const float* delta, E* dk, E* dv, Dims d) {
  using G = Tile<D>;
  extern __shared__ float smem[];
  float* sk = smem;
  float* sv = sk + G::kRows * G::kLd;
  float* sq = sv + G::kRows * G::kLd;
  float* sdo = sq + G::kRows * G::kLd;
  float* sp = sdo + G::kRows * G::kLd;   // P^T [key][query]
  float* sds = sp + G::kRows * G::kLdS;  // dS^T [key][query]
  float* slse = sds + G::kRows * G::kLdS;
  float* sdelta = slse + G::kRows;

  const int b = blockIdx.x / d.Hkv, g = blockIdx.x % d.Hkv;
  const int kt = blockIdx.y, k0 = kt * G::kRows, query_tiles = gridDim.y;
  const int r = threadIdx.x / G::kLanes, lane = threadIdx.x % G::kLanes;
  const int kj = k0 + r;
  load_tile<D>(sk, k, b, k0, g, d.Hkv, d.T);
  load_tile<D>(sv, v, b, k0, g, d.Hkv, d.T);

  float dk_acc[G::kCols], dv_acc[G::kCols];
#pragma unroll
  for (int cc = 0; cc < G::kCols; ++cc) dk_acc[cc] = dv_acc[cc] = 0.0f;

  const float* krow = sk + r * G::kLd;
  const float* vrow = sv + r * G::kLd;
  float* prow = sp + r * G::kLdS;
  float* dsrow = sds + r * G::kLdS;
  for (int h = g * d.group; h < (g + 1) * d.group; ++h) {
    // Query tiles before the key tile are fully masked (tiles are square), and so are those
    // from the first one whose document starts after the key tile.
    for (int qt = kt; qt < query_tiles; ++qt) {
      const int q0 = qt * G::kRows;
      if (doc_start(d, b, q0) >= k0 + G::kRows) break;  // the same for the whole block
      __syncthreads();  // everyone is done with the previous Q/dO tile (and K/V are loaded)
      load_tile<D>(sq, q, b, q0, h, d.Hq, d.T);
      load_tile<D>(sdo, dout, b, q0, h, d.Hq, d.T);
      load_stat<D>(slse, lse, b, h, q0, d);
      load_stat<D>(sdelta, delta, b, h, q0, d);
      __syncthreads();

      float s[G::kPerLane], dp[G::kPerLane];
#pragma unroll
      for (int ii = 0; ii < G::kPerLane; ++ii) s[ii] = dp[ii] = 0.0f;
#pragma unroll 4
      for (int c = 0; c < D; ++c) {
        const float kc = krow[c], vc = vrow[c];
#pragma unroll
        for (int ii = 0; ii < G::kPerLane; ++ii) {
          const int i = lane + ii * G::kLanes;
          s[ii] += kc * sq[i * G::kLd + c];
          dp[ii] += vc * sdo[i * G::kLd + c];
        }
      }
#pragma unroll
      for (int ii = 0; ii < G::kPerLane; ++ii) {
        const int i = lane + ii * G::kLanes, qi = q0 + i;
        const bool seen = qi < d.T && kj <= qi && doc_start(d, b, qi) <= kj;
        const float p = seen ? expf(s[ii] * d.scale - slse[i]) : 0.0f;
        prow[i] = p;
        dsrow[i] = p * (dp[ii] - sdelta[i]);
      }
      __syncwarp();  // key row r's P and dS were written by its own warp

      for (int i = 0; i < G::kRows; ++i) {
        const float p = prow[i], ds = dsrow[i];
        const float* qrow = sq + i * G::kLd + lane;
        const float* dorow = sdo + i * G::kLd + lane;
#pragma unroll
        for (int cc = 0; cc < G::kCols; ++cc) {
          dv_acc[cc] += p * dorow[cc * G::kLanes];
          dk_acc[cc] += ds * qrow[cc * G::kLanes];
        }
      }
    }
  }

  if (kj < d.T) {
#pragma unroll
    for (int cc = 0; cc < G::kCols; ++cc) {
      const int64_t o = at(b, kj, g, lane + cc * G::kLanes, d.T, d.Hkv, D);
      dk[o] = from_f32<E>(dk_acc[cc] * d.scale);
      dv[o] = from_f32<E>(dv_acc[cc]);
    }
  }
}

template <int D>
size_t dq_smem() {
  using G = Tile<D>;
  return sizeof(float) * (4 * G::kRows * G::kLd + G::kRows * G::kLdS);
}

// Grid (B * Hq, query tiles), like the forward; tile row r is a query.
template <int D, class E>
__global__ void __launch_bounds__(kThreads)
    dq_kernel(const E* dout, const E* q, const E* k, const E* v, const float* lse,
              const float* delta, E* dq, Dims d) {
  using G = Tile<D>;
  extern __shared__ float smem[];
  float* sq = smem;
  float* sdo = sq + G::kRows * G::kLd;
  float* sk = sdo + G::kRows * G::kLd;
  float* sv = sk + G::kRows * G::kLd;
  float* sds = sv + G::kRows * G::kLd;  // dS [query][key]

  const int b = blockIdx.x / d.Hq, h = blockIdx.x % d.Hq, g = h / d.group;
  const int q0 = (int(gridDim.y) - 1 - int(blockIdx.y)) * G::kRows;
  const int r = threadIdx.x / G::kLanes, lane = threadIdx.x % G::kLanes;
  const int qi = q0 + r;
  load_tile<D>(sq, q, b, q0, h, d.Hq, d.T);
  load_tile<D>(sdo, dout, b, q0, h, d.Hq, d.T);
  const int64_t stat = (int64_t(b) * d.Hq + h) * d.T + qi;
  const float lse_i = qi < d.T ? lse[stat] : 0.0f;
  const float delta_i = qi < d.T ? delta[stat] : 0.0f;
  const int start = qi < d.T ? doc_start(d, b, qi) : 0;

  float acc[G::kCols];
#pragma unroll
  for (int cc = 0; cc < G::kCols; ++cc) acc[cc] = 0.0f;

  const float* qrow = sq + r * G::kLd;
  const float* dorow = sdo + r * G::kLd;
  float* dsrow = sds + r * G::kLdS;
  const int key_tiles = (min(q0 + G::kRows, d.T) - 1) / G::kRows + 1;
  for (int kt = doc_start(d, b, q0) / G::kRows; kt < key_tiles; ++kt) {
    const int k0 = kt * G::kRows;
    __syncthreads();  // everyone is done with the previous K/V tile (and Q/dO are loaded)
    load_tile<D>(sk, k, b, k0, g, d.Hkv, d.T);
    load_tile<D>(sv, v, b, k0, g, d.Hkv, d.T);
    __syncthreads();

    float s[G::kPerLane], dp[G::kPerLane];
#pragma unroll
    for (int jj = 0; jj < G::kPerLane; ++jj) s[jj] = dp[jj] = 0.0f;
#pragma unroll 4
    for (int c = 0; c < D; ++c) {
      const float qc = qrow[c], doc = dorow[c];
#pragma unroll
      for (int jj = 0; jj < G::kPerLane; ++jj) {
        const int j = lane + jj * G::kLanes;
        s[jj] += qc * sk[j * G::kLd + c];
        dp[jj] += doc * sv[j * G::kLd + c];
      }
    }
#pragma unroll
    for (int jj = 0; jj < G::kPerLane; ++jj) {
      const int j = lane + jj * G::kLanes, kj = k0 + j;
      const float p = qi < d.T && kj >= start && kj <= qi ? expf(s[jj] * d.scale - lse_i) : 0.0f;
      dsrow[j] = p * (dp[jj] - delta_i);
    }
    __syncwarp();  // query row r's dS was written by its own warp

    for (int j = 0; j < G::kRows; ++j) {
      const float ds = dsrow[j];
      const float* krow = sk + j * G::kLd + lane;
#pragma unroll
      for (int cc = 0; cc < G::kCols; ++cc) acc[cc] += ds * krow[cc * G::kLanes];
    }
  }

  if (qi < d.T) {
#pragma unroll
    for (int cc = 0; cc < G::kCols; ++cc)
      dq[at(b, qi, h, lane + cc * G::kLanes, d.T, d.Hq, D)] = from_f32<E>(acc[cc] * d.scale);
  }
}

// Kernels above 48 KiB of dynamic shared memory must opt in.
template <class Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    NEFT_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

// Calls f(std::integral_constant<int, D>) for the instantiated head dims.
template <class F>
void with_head_dim(const char* op, int64_t D, F&& f) {
  switch (D) {
    case 16:
      return f(std::integral_constant<int, 16>{});
    case 32:
      return f(std::integral_constant<int, 32>{});
    case 64:
      return f(std::integral_constant<int, 64>{});
    case 80:
      return f(std::integral_constant<int, 80>{});
    case 96:
      return f(std::integral_constant<int, 96>{});
    case 128:
      return f(std::integral_constant<int, 128>{});
    default:
      fail(op, ": head dim ", D, " has no CUDA kernel (supported: 16, 32, 64, 80, 96, 128)");
  }
}

Dims dims_of(const char* op, const Tensor& q, const Tensor& k, const Tensor& doc_start,
             int rows_per_tile) {
  const int64_t tiles = (q.size(1) + rows_per_tile - 1) / rows_per_tile;
  if (q.size(0) * q.size(2) > INT32_MAX || tiles > 65535 || q.size(1) > INT32_MAX)
    fail(op, ": q ", q.str(), " is too large for the CUDA kernel's grid");
  return Dims{int(q.size(0)),
              int(q.size(1)),
              int(q.size(2)),
              int(k.size(2)),
              int(q.size(2) / k.size(2)),
              1.0f / std::sqrt(float(q.size(3))),
              doc_start.defined() ? doc_start.data<int32_t>() : nullptr};
}

}  // namespace

template <>
void attention_forward<Device::CUDA>(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                                     Tensor& lse, const Tensor& doc_start) {
  const char* op = "attention_forward";
  if (q.numel() == 0) return;
  with_head_dim(op, q.size(3), [&](auto head_dim) {
    constexpr int D = decltype(head_dim)::value;
    const Dims d = dims_of(op, q, k, doc_start, Tile<D>::kRows);
    const dim3 grid(unsigned(d.B * d.Hq), unsigned((d.T + Tile<D>::kRows - 1) / Tile<D>::kRows));
    NEFT_FLOAT_TYPES(q.dtype(), E, {
      allow_smem(forward_kernel<D, E>, forward_smem<D>());
      forward_kernel<D, E><<<grid, kThreads, forward_smem<D>(), cuda_detail::stream()>>>(
          q.data<E>(), k.data<E>(), v.data<E>(), out.data<E>(), lse.data<float>(), d);
      NEFT_CUDA_LAUNCH_CHECK();
    });
  });
}

template <>
void attention_backward<Device::CUDA>(const Tensor& dout, const Tensor& q, const Tensor& k,
                                      const Tensor& v, const Tensor& out, const Tensor& lse,
                                      Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& doc_start) {
  const char* op = "attention_backward";
  if (q.numel() == 0) return;
  with_head_dim(op, q.size(3), [&](auto head_dim) {
    constexpr int D = decltype(head_dim)::value;
    const Dims d = dims_of(op, q, k, doc_start, Tile<D>::kRows);
    const unsigned tiles = unsigned((d.T + Tile<D>::kRows - 1) / Tile<D>::kRows);
    Tensor delta = Tensor::empty(lse.shape(), DType::F32, Device::CUDA);
    const int64_t rows = int64_t(d.B) * d.T * d.Hq;
    NEFT_FLOAT_TYPES(q.dtype(), E, {
      delta_kernel<E><<<blocks_for(rows, kThreads), kThreads, 0, cuda_detail::stream()>>>(
          dout.data<E>(), out.data<E>(), delta.data<float>(), rows, D, d.T, d.Hq);
      NEFT_CUDA_LAUNCH_CHECK();

      allow_smem(dkdv_kernel<D, E>, dkdv_smem<D>());
      dkdv_kernel<D, E>
          <<<dim3(unsigned(d.B * d.Hkv), tiles), kThreads, dkdv_smem<D>(), cuda_detail::stream()>>>(
              dout.data<E>(), q.data<E>(), k.data<E>(), v.data<E>(), lse.data<float>(),
              delta.data<float>(), dk.data<E>(), dv.data<E>(), d);
      NEFT_CUDA_LAUNCH_CHECK();

      allow_smem(dq_kernel<D, E>, dq_smem<D>());
      dq_kernel<D, E>
          <<<dim3(unsigned(d.B * d.Hq), tiles), kThreads, dq_smem<D>(), cuda_detail::stream()>>>(
              dout.data<E>(), q.data<E>(), k.data<E>(), v.data<E>(), lse.data<float>(),
              delta.data<float>(), dq.data<E>(), d);
      NEFT_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace neft::ops
