#include <cub/device/device_radix_sort.cuh>

#include <algorithm>

#include "runtime/ops/cuda/common.cuh"
#include "runtime/ops/embedding.h"

namespace neft::ops {

namespace {
using namespace cuda_ops;

constexpr int64_t kMaxBlocks = int64_t(1) << 20;

// Threads per row: a warp multiple, about 4 elements per thread, at most 256.
int threads_for(int64_t c) {
  int t = 32;
  while (t < 256 && int64_t(t) * 4 < c) t *= 2;
  return t;
}

// One block per token row (grid-stride over rows), threads over columns.
template <class T>
__global__ void forward_kernel(const int32_t* tokens, const T* table, int64_t vocab_start,
                               int64_t v, T* out, int64_t n, int64_t c) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t row = int64_t(tokens[i]) - vocab_start;
    T* dst = out + i * c;
    if (row >= 0 && row < v) {
      const T* src = table + row * c;
      for (int64_t j = threadIdx.x; j < c; j += blockDim.x) dst[j] = src[j];
    } else {
      for (int64_t j = threadIdx.x; j < c; j += blockDim.x) dst[j] = from_f32<T>(0.0f);
    }
  }
}

// Sort keys: the shard row, or v (sorts last, skipped) for ids outside the shard.
__global__ void keys_kernel(const int32_t* tokens, int64_t vocab_start, int64_t v, uint32_t* keys,
                            int32_t* index, int64_t n) {
  NEFT_GRID_STRIDE(i, n) {
    const int64_t row = int64_t(tokens[i]) - vocab_start;
    keys[i] = uint32_t(row >= 0 && row < v ? row : v);
    index[i] = int32_t(i);
  }
}

// keys/index sorted stably by key. The block at the first position of each run of equal
// keys sums that run's dout rows (index ascending) in fp32 and adds the sum to dtable once.
template <class D, class G>
__global__ void segment_sum_kernel(const uint32_t* keys, const int32_t* index, const D* dout,
                                   int64_t v, G* dtable, int64_t n, int64_t c) {
  for (int64_t p = blockIdx.x; p < n; p += gridDim.x) {
    const uint32_t key = keys[p];
    if (int64_t(key) >= v || (p > 0 && keys[p - 1] == key)) continue;  // uniform per block
    G* dst = dtable + int64_t(key) * c;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      float acc = 0.0f;
      for (int64_t q = p; q < n && keys[q] == key; ++q)
        acc += to_f32(dout[int64_t(index[q]) * c + j]);
      dst[j] = from_f32<G>(to_f32(dst[j]) + acc);
    }
  }
}

// dout's dtype is dispatched by the caller, dtable's here: one kernel per (D, G) pair.
template <class D>
void launch_segment_sum(const uint32_t* keys, const Tensor& index, const Tensor& dout,
                        Tensor& dtable) {
  const int64_t n = dout.size(0), v = dtable.size(0), c = dtable.size(1);
  NEFT_FLOAT_TYPES(dtable.dtype(), G, {
    segment_sum_kernel<D, G>
        <<<unsigned(std::min(n, kMaxBlocks)), threads_for(c), 0, cuda_detail::stream()>>>(
            keys, index.data<int32_t>(), dout.data<D>(), v, dtable.data<G>(), n, c);
    NEFT_CUDA_LAUNCH_CHECK();
  });
}
}  // namespace

template <>
void embedding_forward<Device::CUDA>(const Tensor& tokens, const Tensor& table, int64_t vocab_start,
                                     Tensor& out) {
  const int64_t n = tokens.size(0), v = table.size(0), c = table.size(1);
  if (n == 0 || c == 0) return;
  const unsigned blocks = unsigned(std::min(n, kMaxBlocks));
  NEFT_FLOAT_TYPES(table.dtype(), T, {
    forward_kernel<T><<<blocks, threads_for(c), 0, cuda_detail::stream()>>>(
        tokens.data<int32_t>(), table.data<T>(), vocab_start, v, out.data<T>(), n, c);
    NEFT_CUDA_LAUNCH_CHECK();
  });
}

template <>
void embedding_backward<Device::CUDA>(const Tensor& dout, const Tensor& tokens, int64_t vocab_start,
                                      Tensor& dtable) {
  const int64_t n = tokens.size(0), v = dtable.size(0), c = dtable.size(1);
  if (n == 0 || c == 0 || v == 0) return;
  cudaStream_t stream = cuda_detail::stream();
  // Scratch from the stream-ordered cache; freed on return, safe for later work on the stream.
  Tensor keys_in = Tensor::empty({n}, DType::I32, Device::CUDA);
  Tensor keys_out = Tensor::empty({n}, DType::I32, Device::CUDA);
  Tensor index_in = Tensor::empty({n}, DType::I32, Device::CUDA);
  Tensor index_out = Tensor::empty({n}, DType::I32, Device::CUDA);
  uint32_t* kin = reinterpret_cast<uint32_t*>(keys_in.data<int32_t>());
  uint32_t* kout = reinterpret_cast<uint32_t*>(keys_out.data<int32_t>());
  keys_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(tokens.data<int32_t>(), vocab_start, v, kin,
                                                      index_in.data<int32_t>(), n);
  NEFT_CUDA_LAUNCH_CHECK();

  int end_bit = 1;  // keys lie in [0, v]: sort only the bits that can differ
  while (end_bit < 32 && (uint64_t(1) << end_bit) <= uint64_t(v)) ++end_bit;
  size_t temp_bytes = 0;
  NEFT_CUDA_CHECK(
      cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, kin, kout, index_in.data<int32_t>(),
                                      index_out.data<int32_t>(), n, 0, end_bit, stream));
  Tensor temp = Tensor::empty({int64_t((temp_bytes + 3) / 4) + 1}, DType::I32, Device::CUDA);
  NEFT_CUDA_CHECK(
      cub::DeviceRadixSort::SortPairs(temp.raw(), temp_bytes, kin, kout, index_in.data<int32_t>(),
                                      index_out.data<int32_t>(), n, 0, end_bit, stream));

  NEFT_FLOAT_TYPES(dout.dtype(), D, launch_segment_sum<D>(kout, index_out, dout, dtable));
}

}  // namespace neft::ops
