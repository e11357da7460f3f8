#include "runtime/ops/rope.h"

#include "runtime/ops/dispatch.h"

namespace neft::ops {

namespace {
void check_rope(const char* op, const char* in_name, const Tensor& in, const Tensor& positions,
                float theta, const char* out_name, const Tensor& out) {
  check_rank(op, in_name, in, 3, "[N, H, D]");
  const int64_t d = in.size(2);
  if (d % 2 != 0) fail(op, ": argument '", in_name, "' has odd head dim D=", d, " (must be even)");
  if (d > kRopeMaxHeadDim)
    fail(op, ": argument '", in_name, "' has head dim D=", d, ", at most ", kRopeMaxHeadDim);
  check_float_for_device(op, in_name, in);
  check_shape(op, "positions", positions, {in.size(0)});
  check_dtype(op, "positions", positions, {DType::I32});
  check_shape(op, out_name, out, in.shape());
  check_dtype(op, out_name, out, {in.dtype()});
  if (!(theta > 0.0f)) fail(op, ": theta must be > 0, got ", theta);
}
}  // namespace

void rope_forward(const Tensor& x, const Tensor& positions, float theta, Tensor& y) {
  const Device d = common_device("rope_forward", {&x, &positions, &y});
  check_rope("rope_forward", "x", x, positions, theta, "y", y);
  NEFT_DISPATCH(d, rope_rotate, x, positions, theta, 1.0f, y);
}

void rope_backward(const Tensor& dy, const Tensor& positions, float theta, Tensor& dx) {
  const Device d = common_device("rope_backward", {&dy, &positions, &dx});
  check_rope("rope_backward", "dy", dy, positions, theta, "dx", dx);
  NEFT_DISPATCH(d, rope_rotate, dy, positions, theta, -1.0f, dx);
}

}  // namespace neft::ops
