#include "runtime/ops/cast.h"
#include "runtime/ops/cuda/common.cuh"

namespace neft::ops {

namespace {
using namespace cuda_ops;
constexpr int kThreads = 256;

// Loads and stores with the hardware's round-to-nearest-even conversions, except that a NaN
// gets the same bits as the host conversions (runtime/dtype.h) give it, so that a cast has
// the same result bit for bit on either device. (The intrinsics return one canonical NaN.)
__device__ __forceinline__ float load(float x) { return x; }
__device__ __forceinline__ float load(__nv_bfloat16 x) {
  return __uint_as_float(uint32_t(__bfloat16_as_ushort(x)) << 16);
}
__device__ __forceinline__ float load(__half x) {
  const uint32_t h = __half_as_ushort(x);
  if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu))  // NaN: keep sign and payload
    return __uint_as_float((h & 0x8000u) << 16 | 0x7f800000u | (h & 0x3ffu) << 13);
  return __half2float(x);
}

template <class T>
__device__ __forceinline__ T store(float x);
template <>
__device__ __forceinline__ float store<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 store<__nv_bfloat16>(float x) {
  const uint32_t u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return __ushort_as_bfloat16(uint16_t((u >> 16) | 0x40u));
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ __half store<__half>(float x) {
  const uint32_t u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return __ushort_as_half(uint16_t((u >> 16 & 0x8000u) | 0x7e00u));
  return __float2half_rn(x);
}

template <class S, class D>
__global__ void cast_kernel(const S* src, D* dst, int64_t n) {
  NEFT_GRID_STRIDE(i, n) dst[i] = store<D>(load(src[i]));
}

}  // namespace

template <>
void cast<Device::CUDA>(const Tensor& src, Tensor& dst) {
  const int64_t n = src.numel();
  if (n == 0) return;
  if (src.dtype() == dst.dtype()) {  // the bits as they are
    NEFT_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDeviceToDevice,
                                    cuda_detail::stream()));
    return;
  }
  NEFT_FLOAT_TYPES(src.dtype(), S, NEFT_FLOAT_TYPES(dst.dtype(), D, {
                     cast_kernel<S, D>
                         <<<blocks_for(n, kThreads), kThreads, 0, cuda_detail::stream()>>>(
                             src.data<S>(), dst.data<D>(), n);
                   }));
  NEFT_CUDA_LAUNCH_CHECK();
}

}  // namespace neft::ops
