#include "runtime/ops/reduce.h"

#include "runtime/ops/dispatch.h"

namespace neft::ops {

void sum_squares(const Tensor& x, Tensor& out, bool accumulate) {
  const Device d = common_device("sum_squares", {&x, &out});
  check_float_for_device("sum_squares", "x", x);
  check_shape("sum_squares", "out", out, {1});
  check_dtype("sum_squares", "out", out, {DType::F32});
  NEFT_DISPATCH(d, sum_squares, x, out, accumulate);
}

}  // namespace neft::ops
