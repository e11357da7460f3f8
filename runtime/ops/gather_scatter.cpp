#include "runtime/ops/gather_scatter.h"

#include <vector>

#include "runtime/ops/dispatch.h"

namespace neft::ops {

namespace {

void check_matrix(const char* op, const char* name, const Tensor& t) {
  check_float_for_device(op, name, t);
  if (t.dim() != 2) fail(op, ": argument '", name, "' must be 2-D, got ", t.str());
}

// idx [k] i32; on the CPU also each id in [0, limit) and no id twice.
void check_index(const char* op, const Tensor& idx, int64_t k, int64_t limit) {
  check_shape(op, "idx", idx, {k});
  check_dtype(op, "idx", idx, {DType::I32});
  if (idx.device() != Device::CPU) return;
  const int32_t* p = idx.data<int32_t>();
  std::vector<bool> seen(size_t(limit), false);
  for (int64_t i = 0; i < k; ++i) {
    if (p[i] < 0 || p[i] >= limit)
      fail(op, ": idx[", i, "] = ", p[i], " is outside [0, ", limit, ")");
    if (seen[size_t(p[i])]) fail(op, ": idx[", i, "] = ", p[i], " appears twice");
    seen[size_t(p[i])] = true;
  }
}

}  // namespace

void gather_rows(const Tensor& src, const Tensor& idx, Tensor& dst) {
  const char* op = "gather_rows";
  const Device d = common_device(op, {&src, &idx, &dst});
  check_matrix(op, "src", src);
  check_defined(op, "idx", idx);
  const int64_t k = idx.numel();
  check_float_for_device(op, "dst", dst);
  check_shape(op, "dst", dst, {k, src.size(1)});
  check_index(op, idx, k, src.size(0));
  NEFT_DISPATCH(d, gather_rows, src, idx, dst);
}

void scatter_rows(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate) {
  const char* op = "scatter_rows";
  const Device d = common_device(op, {&src, &idx, &dst});
  check_matrix(op, "src", src);
  check_matrix(op, "dst", dst);
  if (dst.size(1) != src.size(1))
    fail(op, ": src ", src.str(), " and dst ", dst.str(), " differ in columns");
  check_index(op, idx, src.size(0), dst.size(0));
  NEFT_DISPATCH(d, scatter_rows, src, idx, dst, accumulate);
}

void gather_cols(const Tensor& src, const Tensor& idx, Tensor& dst) {
  const char* op = "gather_cols";
  const Device d = common_device(op, {&src, &idx, &dst});
  check_matrix(op, "src", src);
  check_defined(op, "idx", idx);
  const int64_t k = idx.numel();
  check_float_for_device(op, "dst", dst);
  check_shape(op, "dst", dst, {src.size(0), k});
  check_index(op, idx, k, src.size(1));
  NEFT_DISPATCH(d, gather_cols, src, idx, dst);
}

void scatter_cols(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate) {
  const char* op = "scatter_cols";
  const Device d = common_device(op, {&src, &idx, &dst});
  check_matrix(op, "src", src);
  check_matrix(op, "dst", dst);
  if (dst.size(0) != src.size(0))
    fail(op, ": src ", src.str(), " and dst ", dst.str(), " differ in rows");
  check_index(op, idx, src.size(1), dst.size(1));
  NEFT_DISPATCH(d, scatter_cols, src, idx, dst, accumulate);
}

}  // namespace neft::ops
