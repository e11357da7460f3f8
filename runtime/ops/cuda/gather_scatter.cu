#include "runtime/ops/cuda/common.cuh"
#include "runtime/ops/gather_scatter.h"

namespace neft::ops {

namespace {
using namespace cuda_ops;

enum class Move { GatherRows, ScatterRows, GatherCols, ScatterCols };

// The four moves as one 2-D loop: `outer` is the dimension walked by blockIdx.y (the K rows
// moved, or the R rows of a column move), `inner` the contiguous one walked by threads.
// `width` is the row length of the full (indexed) matrix, C.
template <Move M, class S, class D>
__global__ void move_kernel(const S* src, const int32_t* idx, D* dst, int64_t outer, int64_t inner,
                            int64_t width, bool accumulate) {
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < inner;
         i += int64_t(gridDim.x) * blockDim.x) {
      int64_t s = 0, d = 0;
      if constexpr (M == Move::GatherRows) {
        s = int64_t(idx[o]) * width + i;
        d = o * inner + i;
      } else if constexpr (M == Move::ScatterRows) {
        s = o * inner + i;
        d = int64_t(idx[o]) * width + i;
      } else if constexpr (M == Move::GatherCols) {
        s = o * width + idx[i];
        d = o * inner + i;
      } else {
        s = o * inner + i;
        d = o * width + idx[i];
      }
      const float v = to_f32(src[s]);
      dst[d] = from_f32<D>(accumulate ? to_f32(dst[d]) + v : v);
    }
  }
}

template <Move M>
void launch(const Tensor& src, const Tensor& idx, Tensor& dst, int64_t outer, int64_t inner,
            int64_t width, bool accumulate) {
  if (outer == 0 || inner == 0) return;
  // Narrow rows (a few selected columns) should not leave most of a 256-thread block idle.
  const int threads = inner >= 256 ? 256 : int((inner + 31) / 32 * 32);
  const int64_t bx = (inner + threads - 1) / threads;
  const dim3 grid(unsigned(bx < 65535 ? bx : 65535), unsigned(outer < 65535 ? outer : 65535));
  NEFT_FLOAT_TYPES(src.dtype(), S, NEFT_FLOAT_TYPES(dst.dtype(), D, {
                     move_kernel<M, S, D><<<grid, threads, 0, cuda_detail::stream()>>>(
                         src.data<S>(), idx.data<int32_t>(), dst.data<D>(), outer, inner, width,
                         accumulate);
                   }));
  NEFT_CUDA_LAUNCH_CHECK();
}

}  // namespace

template <>
void gather_rows<Device::CUDA>(const Tensor& src, const Tensor& idx, Tensor& dst) {
  launch<Move::GatherRows>(src, idx, dst, idx.numel(), src.size(1), src.size(1), false);
}

template <>
void scatter_rows<Device::CUDA>(const Tensor& src, const Tensor& idx, Tensor& dst,
                                bool accumulate) {
  launch<Move::ScatterRows>(src, idx, dst, idx.numel(), src.size(1), dst.size(1), accumulate);
}

template <>
void gather_cols<Device::CUDA>(const Tensor& src, const Tensor& idx, Tensor& dst) {
  launch<Move::GatherCols>(src, idx, dst, src.size(0), idx.numel(), src.size(1), false);
}

template <>
void scatter_cols<Device::CUDA>(const Tensor& src, const Tensor& idx, Tensor& dst,
                                bool accumulate) {
  launch<Move::ScatterCols>(src, idx, dst, src.size(0), idx.numel(), dst.size(1), accumulate);
}

}  // namespace neft::ops
