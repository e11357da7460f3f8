#include <algorithm>
#include <cstring>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/embedding.h"

namespace neft::ops {

namespace {
constexpr int64_t kColumnChunk = 256;
}  // namespace

template <>
void embedding_forward<Device::CPU>(const Tensor& tokens, const Tensor& table, int64_t vocab_start,
                                    Tensor& out) {
  const int64_t n = tokens.size(0), v = table.size(0), c = table.size(1);
  if (n == 0 || c == 0) return;
  const int32_t* tok = tokens.data<int32_t>();
  const float* pt = table.data<float>();
  float* po = out.data<float>();
  cpu::parallel_for(
      n,
      [&](int64_t i) {
        const int64_t row = int64_t(tok[i]) - vocab_start;
        float* dst = po + i * c;
        if (row >= 0 && row < v)
          std::memcpy(dst, pt + row * c, size_t(c) * sizeof(float));
        else
          std::fill(dst, dst + c, 0.0f);
      },
      std::max<int64_t>(1, cpu::kParallelGrain / c));
}

// Each thread owns a chunk of columns and adds the tokens in order: no races, and the
// same sums whatever the thread count.
template <>
void embedding_backward<Device::CPU>(const Tensor& dout, const Tensor& tokens, int64_t vocab_start,
                                     Tensor& dtable) {
  const int64_t n = tokens.size(0), v = dtable.size(0), c = dtable.size(1);
  if (n == 0 || c == 0) return;
  const int32_t* tok = tokens.data<int32_t>();
  const float* pd = dout.data<float>();
  float* pt = dtable.data<float>();
  const int64_t chunks = (c + kColumnChunk - 1) / kColumnChunk;
  cpu::parallel_for(
      chunks,
      [&](int64_t k) {
        const int64_t j0 = k * kColumnChunk, j1 = std::min(c, j0 + kColumnChunk);
        for (int64_t i = 0; i < n; ++i) {
          const int64_t row = int64_t(tok[i]) - vocab_start;
          if (row < 0 || row >= v) continue;
          const float* src = pd + i * c;
          float* dst = pt + row * c;
          for (int64_t j = j0; j < j1; ++j) dst[j] += src[j];
        }
      },
      std::max<int64_t>(1, cpu::kParallelGrain / (n * kColumnChunk)));
}

}  // namespace neft::ops
