#include "runtime/ops/cuda/common.cuh"
#include "runtime/ops/reduce.h"

namespace neft::ops {

namespace {
using namespace cuda_ops;
constexpr int kThreads = 256;     // a multiple of 32
constexpr int kMaxBlocks = 1024;  // enough to fill an H100/H200 several times over

template <class T>
__global__ void partial_kernel(const T* x, int64_t n, float* partial) {
  float s = 0.0f;
  NEFT_GRID_STRIDE(i, n) {
    const float v = to_f32(x[i]);
    s += v * v;
  }
  __shared__ float shared[32];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void final_kernel(const float* partial, int parts, float* out, bool accumulate) {
  float s = 0.0f;
  for (int i = threadIdx.x; i < parts; i += blockDim.x) s += partial[i];
  __shared__ float shared[32];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) out[0] = accumulate ? out[0] + s : s;
}

}  // namespace

template <>
void sum_squares<Device::CUDA>(const Tensor& x, Tensor& out, bool accumulate) {
  const int64_t n = x.numel();
  // The block count depends on n only (not on the GPU), so the summation order, and the
  // bits, are fixed for a given size. At least ~8 elements per thread.
  const int64_t want = (n + kThreads * 8 - 1) / (kThreads * 8);
  const int blocks = int(want < 1 ? 1 : (want > kMaxBlocks ? kMaxBlocks : want));
  // Freed on return: the caching allocator hands it out again only in stream order.
  Tensor partial = Tensor::empty({blocks}, DType::F32, Device::CUDA);
  cudaStream_t stream = cuda_detail::stream();
  NEFT_FLOAT_TYPES(x.dtype(), T, {
    partial_kernel<T>
        <<<blocks, kThreads, 0, stream>>>(n ? x.data<T>() : nullptr, n, partial.data<float>());
  });
  NEFT_CUDA_LAUNCH_CHECK();
  final_kernel<<<1, kThreads, 0, stream>>>(partial.data<float>(), blocks, out.data<float>(),
                                           accumulate);
  NEFT_CUDA_LAUNCH_CHECK();
}

}  // namespace neft::ops
