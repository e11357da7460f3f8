#include "runtime/ops/attribution.h"
#include "runtime/ops/cuda/common.cuh"

namespace neft::ops {

namespace {
using namespace cuda_ops;
constexpr int kTileColumns = 32;  // threadIdx.x: one column each, so row reads coalesce
constexpr int kRowLanes = 8;      // threadIdx.y: rows y, y + 8, ... of those columns

// One block per tile of 32 columns. Each (x, y) thread sums its rows in order; the 8 row
// lanes are then added in lane order: a fixed order, so the same bits every run.
template <class T>
__global__ void attribution_kernel(const T* a, const T* g, int64_t N, int64_t U, bool absolute,
                                   float* out) {
  const int64_t u = int64_t(blockIdx.x) * kTileColumns + threadIdx.x;
  float s = 0.0f;
  if (u < U)
    for (int64_t n = threadIdx.y; n < N; n += kRowLanes) {
      const float p = to_f32(a[n * U + u]) * to_f32(g[n * U + u]);
      s += absolute ? fabsf(p) : p;
    }
  __shared__ float lanes[kRowLanes][kTileColumns];
  lanes[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && u < U) {
    float total = 0.0f;
    for (int y = 0; y < kRowLanes; ++y) total += lanes[y][threadIdx.x];
    out[u] += total;
  }
}
}  // namespace

template <>
void attribution_accumulate<Device::CUDA>(const Tensor& act, const Tensor& grad, Tensor& out,
                                          bool absolute) {
  const int64_t N = act.size(0), U = act.size(1);
  if (U == 0) return;
  const int64_t tiles = (U + kTileColumns - 1) / kTileColumns;
  NEFT_CHECK(tiles <= 0x7fffffff, "attribution_accumulate: ", U, " columns");
  const dim3 threads(kTileColumns, kRowLanes);
  cudaStream_t stream = cuda_detail::stream();
  NEFT_FLOAT_TYPES(act.dtype(), T, {
    attribution_kernel<T><<<unsigned(tiles), threads, 0, stream>>>(act.data<T>(), grad.data<T>(), N,
                                                                   U, absolute, out.data<float>());
  });
  NEFT_CUDA_LAUNCH_CHECK();
}

}  // namespace neft::ops
