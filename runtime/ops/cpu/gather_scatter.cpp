#include <algorithm>

#include "runtime/ops/cpu/parallel.h"
#include "runtime/ops/gather_scatter.h"

namespace neft::ops {

using cpu::parallel_for;

namespace {
int64_t grain(int64_t row_len) {
  return std::max<int64_t>(1, cpu::kParallelGrain / std::max<int64_t>(row_len, 1));
}

// Column ids are random within a row, which the hardware prefetcher cannot follow, so the
// row's cache lines would arrive one demand miss at a time. Instead, while a row is
// gathered (or scattered) in pieces of kPiece ids, each piece prefetches its share of the
// next row's lines (`rw` 1: for writing).
constexpr int64_t kFloatsPerLine = 16;
constexpr int64_t kPiece = 64;

template <int rw>
inline void prefetch_share(const float* next, int64_t len, int64_t piece, int64_t pieces) {
  const int64_t lines = (len + kFloatsPerLine - 1) / kFloatsPerLine;
  for (int64_t l = lines * piece / pieces, end = lines * (piece + 1) / pieces; l < end; ++l)
    __builtin_prefetch(next + l * kFloatsPerLine, rw);
}

// Row r of dst[r, j] = src[r, id[j]]; src [rows, c], dst [rows, k].
void gather_cols_row(const float* s, const int32_t* id, float* d, int64_t c, int64_t k, int64_t r,
                     int64_t rows) {
  const float* src = s + r * c;
  float* dst = d + r * k;
  const int64_t pieces = (k + kPiece - 1) / kPiece;
  for (int64_t p = 0; p < pieces; ++p) {
    if (r + 1 < rows) prefetch_share<0>(src + c, c, p, pieces);
    for (int64_t j = p * kPiece, end = std::min(k, j + kPiece); j < end; ++j) dst[j] = src[id[j]];
  }
}

// Row r of dst[r, id[j]] = src[r, j] (+= with accumulate); src [rows, k], dst [rows, c].
template <bool accumulate>
void scatter_cols_row(const float* s, const int32_t* id, float* d, int64_t c, int64_t k, int64_t r,
                      int64_t rows) {
  const float* src = s + r * k;
  float* dst = d + r * c;
  const int64_t pieces = (k + kPiece - 1) / kPiece;
  for (int64_t p = 0; p < pieces; ++p) {
    if (r + 1 < rows) prefetch_share<1>(dst + c, c, p, pieces);
    for (int64_t j = p * kPiece, end = std::min(k, j + kPiece); j < end; ++j) {
      if constexpr (accumulate)
        dst[id[j]] += src[j];
      else
        dst[id[j]] = src[j];
    }
  }
}

}  // namespace

template <>
void gather_rows<Device::CPU>(const Tensor& src, const Tensor& idx, Tensor& dst) {
  const int64_t c = src.size(1);
  const float* s = src.data<float>();
  const int32_t* id = idx.data<int32_t>();
  float* d = dst.data<float>();
  parallel_for(
      idx.numel(), [&](int64_t k) { std::copy_n(s + id[k] * c, c, d + k * c); }, grain(c));
}

template <>
void scatter_rows<Device::CPU>(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate) {
  const int64_t c = src.size(1);
  const float* s = src.data<float>();
  const int32_t* id = idx.data<int32_t>();
  float* d = dst.data<float>();
  parallel_for(
      idx.numel(),
      [&](int64_t k) {
        float* row = d + int64_t(id[k]) * c;
        const float* from = s + k * c;
        if (accumulate)
          for (int64_t j = 0; j < c; ++j) row[j] += from[j];
        else
          std::copy_n(from, c, row);
      },
      grain(c));
}

template <>
void gather_cols<Device::CPU>(const Tensor& src, const Tensor& idx, Tensor& dst) {
  const int64_t rows = src.size(0), c = src.size(1), k = idx.numel();
  const float* s = src.data<float>();
  const int32_t* id = idx.data<int32_t>();
  float* d = dst.data<float>();
  parallel_for(
      rows, [&](int64_t r) { gather_cols_row(s, id, d, c, k, r, rows); }, grain(k));
}

template <>
void scatter_cols<Device::CPU>(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate) {
  const int64_t rows = src.size(0), c = dst.size(1), k = idx.numel();
  const float* s = src.data<float>();
  const int32_t* id = idx.data<int32_t>();
  float* d = dst.data<float>();
  parallel_for(
      rows,
      [&](int64_t r) {
        if (accumulate)
          scatter_cols_row<true>(s, id, d, c, k, r, rows);
        else
          scatter_cols_row<false>(s, id, d, c, k, r, rows);
      },
      grain(k));
}

}  // namespace neft::ops
