#include "runtime/ops/adamw.h"
#include "runtime/ops/cuda/common.cuh"

namespace neft::ops {

namespace {
using namespace cuda_ops;
constexpr int kThreads = 256;

template <class G>
__global__ void adamw_kernel(float* param, const G* grad, float* m, float* v, int64_t n,
                             adamw_detail::Scalars s) {
  NEFT_GRID_STRIDE(i, n) {
    float mi = m[i], vi = v[i];
    param[i] = adamw_detail::step(s, param[i], to_f32(grad[i]), mi, vi);
    m[i] = mi;
    v[i] = vi;
  }
}

// Fused: update the compact state, then write the new master value into its place in the
// full weight (converted to the weight's dtype). Only the selected neurons are written.
template <class G, class W>
__global__ void adamw_rows_kernel(float* master, const G* grad, float* m, float* v,
                                  const int32_t* idx, int64_t k, int64_t c, int64_t r, int axis,
                                  W* weight, adamw_detail::Scalars s) {
  NEFT_GRID_STRIDE(i, k * c) {
    float mi = m[i], vi = v[i];
    const float p = adamw_detail::step(s, master[i], to_f32(grad[i]), mi, vi);
    master[i] = p;
    m[i] = mi;
    v[i] = vi;
    const int64_t row = i / c, col = i % c;
    weight[axis == 0 ? int64_t(idx[row]) * c + col : col * r + idx[row]] = from_f32<W>(p);
  }
}

}  // namespace

template <>
void adamw_update<Device::CUDA>(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                                const AdamWParams& p) {
  const int64_t n = param.numel();
  if (n == 0) return;
  const adamw_detail::Scalars s = adamw_detail::scalars(p);
  NEFT_FLOAT_TYPES(grad.dtype(), G, {
    adamw_kernel<G><<<blocks_for(n, kThreads), kThreads, 0, cuda_detail::stream()>>>(
        param.data<float>(), grad.data<G>(), m.data<float>(), v.data<float>(), n, s);
  });
  NEFT_CUDA_LAUNCH_CHECK();
}

template <>
void adamw_update_rows<Device::CUDA>(Tensor& master, const Tensor& grad, Tensor& m, Tensor& v,
                                     const AdamWParams& p, const Tensor& idx, int axis,
                                     Tensor& weight) {
  const int64_t k = master.size(0), c = master.size(1), r = weight.size(axis);
  if (k * c == 0) return;
  const adamw_detail::Scalars s = adamw_detail::scalars(p);
  NEFT_FLOAT_TYPES(grad.dtype(), G, NEFT_FLOAT_TYPES(weight.dtype(), W, {
                     adamw_rows_kernel<G, W>
                         <<<blocks_for(k * c, kThreads), kThreads, 0, cuda_detail::stream()>>>(
                             master.data<float>(), grad.data<G>(), m.data<float>(), v.data<float>(),
                             idx.data<int32_t>(), k, c, r, axis, weight.data<W>(), s);
                   }));
  NEFT_CUDA_LAUNCH_CHECK();
}

}  // namespace neft::ops
