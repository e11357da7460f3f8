// starts[b, t] is the latest document start t' <= t of row b. Over the flattened [B * T]
// index i = b T + t this is a running maximum of "i where a document starts, else 0": column 0
// of every row is a start, and b T exceeds every index of the rows before, so the maximum
// never crosses into another row. One CUB inclusive scan, between two elementwise passes.
#include <cub/device/device_scan.cuh>

#include "runtime/ops/cuda/common.cuh"
#include "runtime/ops/document_starts.h"

namespace neft::ops {

namespace {
using namespace cuda_ops;

__global__ void mark_kernel(const int32_t* pos, int32_t* flat, int64_t n, int64_t T) {
  NEFT_GRID_STRIDE(i, n) {
    const bool begins = i % T == 0 || int64_t(pos[i]) != int64_t(pos[i - 1]) + 1;
    flat[i] = begins ? int32_t(i) : 0;
  }
}

__global__ void to_column_kernel(int32_t* starts, int64_t n, int64_t T) {
  NEFT_GRID_STRIDE(i, n) starts[i] = int32_t(starts[i] - i / T * T);
}

struct Max {
  __device__ int32_t operator()(int32_t a, int32_t b) const { return a > b ? a : b; }
};

}  // namespace

template <>
void document_starts<Device::CUDA>(const Tensor& positions, Tensor& starts) {
  const int64_t T = positions.size(1), n = positions.numel();
  if (n == 0) return;
  cudaStream_t stream = cuda_detail::stream();
  Tensor flat = Tensor::empty({n}, DType::I32, Device::CUDA);
  mark_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(positions.data<int32_t>(),
                                                      flat.data<int32_t>(), n, T);
  NEFT_CUDA_LAUNCH_CHECK();
  size_t temp_bytes = 0;
  const int32_t* f = flat.data<int32_t>();
  int32_t* s = starts.data<int32_t>();
  NEFT_CUDA_CHECK(cub::DeviceScan::InclusiveScan(nullptr, temp_bytes, f, s, Max{}, int(n), stream));
  Tensor temp = Tensor::empty({int64_t((temp_bytes + 3) / 4) + 1}, DType::I32, Device::CUDA);
  NEFT_CUDA_CHECK(
      cub::DeviceScan::InclusiveScan(temp.raw(), temp_bytes, f, s, Max{}, int(n), stream));
  to_column_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(s, n, T);
  NEFT_CUDA_LAUNCH_CHECK();
}

}  // namespace neft::ops
