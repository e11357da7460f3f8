// Shared by every CUDA kernel file: element conversions, dtype dispatch, launch helpers.
// Kernels load bf16/f16/f32 and compute in fp32 (DESIGN.md §4).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "runtime/cuda/context.h"
#include "runtime/tensor.h"

namespace neft::cuda_ops {

template <class T>
__device__ __forceinline__ float to_f32(T x);
template <>
__device__ __forceinline__ float to_f32<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
template <>
__device__ __forceinline__ float to_f32<__half>(__half x) {
  return __half2float(x);
}

template <class T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float x) {
  return __float2half_rn(x);
}

inline unsigned blocks_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : (b > 65535 * 16 ? 65535 * 16 : b));
}

__device__ __forceinline__ float shfl_xor(float v, int lane_mask) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask);
}

// Block-wide reduction in a fixed order, so results have the same bits every run: xor
// butterflies inside each warp (every lane ends with the same bits, as `op` is commutative),
// then the same over the warps' results in warp order. Every thread gets the result.
// blockDim.x must be a multiple of 32; `shared` holds 32 values and may be reused by the next
// call (the leading barrier also orders the caller's earlier reads before later writes).
// A value type other than float provides its own shfl_xor overload, found by ADL.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T identity, T* shared) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, shfl_xor(v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : identity;
  for (int o = 16; o > 0; o >>= 1) v = op(v, shfl_xor(v, o));
  return v;
}

__device__ __forceinline__ float block_sum(float v, float* shared) {
  return block_reduce(
      v, [](float a, float b) { return a + b; }, 0.0f, shared);
}

// Grid-stride loop: kernels stay correct for any n whatever grid they are launched with.
#define NEFT_GRID_STRIDE(i, n)                                              \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

}  // namespace neft::cuda_ops

// Runs the statement with `T` bound to the element type of a floating dtype.
#define NEFT_FLOAT_TYPES(dtype, T, ...)                                          \
  switch (dtype) {                                                               \
    case ::neft::DType::F32: {                                                   \
      using T = float;                                                           \
      __VA_ARGS__;                                                               \
      break;                                                                     \
    }                                                                            \
    case ::neft::DType::BF16: {                                                  \
      using T = __nv_bfloat16;                                                   \
      __VA_ARGS__;                                                               \
      break;                                                                     \
    }                                                                            \
    case ::neft::DType::F16: {                                                   \
      using T = __half;                                                          \
      __VA_ARGS__;                                                               \
      break;                                                                     \
    }                                                                            \
    default:                                                                     \
      ::neft::fail("CUDA op on non-floating dtype ", ::neft::dtype_name(dtype)); \
  }
