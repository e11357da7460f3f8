#include "runtime/ops/gather_scatter.h"

#include <vector>

#include "runtime/ops/dispatch.h"

namespace neft::ops {

namespace {

void check_matrix(const char* op, const char* name, const Tensor& t) {
  check_rank(op, name, t, 2, "[R, C]");
  check_float_for_device(op, name, t);
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

// Gathering along `axis` (0 rows, 1 columns): dst is src with that axis cut to idx's length.
Device check_gather(const char* op, const Tensor& src, const Tensor& idx, const Tensor& dst,
                    int axis) {
  const Device d = common_device(op, {&src, &idx, &dst});
  check_matrix(op, "src", src);
  check_defined(op, "idx", idx);
  Shape expected = src.shape();
  expected[axis] = idx.numel();
  check_float_for_device(op, "dst", dst);
  check_shape(op, "dst", dst, expected);
  check_index(op, idx, idx.numel(), src.size(axis));
  return d;
}

// Scattering along `axis`: src and dst agree on the other axis; idx indexes dst's.
Device check_scatter(const char* op, const Tensor& src, const Tensor& idx, const Tensor& dst,
                     int axis) {
  const Device d = common_device(op, {&src, &idx, &dst});
  check_matrix(op, "src", src);
  check_matrix(op, "dst", dst);
  if (dst.size(1 - axis) != src.size(1 - axis))
    fail(op, ": src ", src.str(), " and dst ", dst.str(), " differ in ",
         axis == 0 ? "columns" : "rows");
  check_index(op, idx, src.size(axis), dst.size(axis));
  return d;
}

}  // namespace

void gather_rows(const Tensor& src, const Tensor& idx, Tensor& dst) {
  NEFT_DISPATCH(check_gather("gather_rows", src, idx, dst, 0), gather_rows, src, idx, dst);
}

void scatter_rows(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate) {
  NEFT_DISPATCH(check_scatter("scatter_rows", src, idx, dst, 0), scatter_rows, src, idx, dst,
                accumulate);
}

void gather_cols(const Tensor& src, const Tensor& idx, Tensor& dst) {
  NEFT_DISPATCH(check_gather("gather_cols", src, idx, dst, 1), gather_cols, src, idx, dst);
}

void scatter_cols(const Tensor& src, const Tensor& idx, Tensor& dst, bool accumulate) {
  NEFT_DISPATCH(check_scatter("scatter_cols", src, idx, dst, 1), scatter_cols, src, idx, dst,
                accumulate);
}

}  // namespace neft::ops
