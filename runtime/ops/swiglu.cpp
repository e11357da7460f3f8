#include "runtime/ops/swiglu.h"

#include "runtime/ops/dispatch.h"

namespace neft::ops {

namespace {
void check_2d(const char* op, const char* name, const Tensor& t) {
  check_rank(op, name, t, 2, "[N, F]");
}
void check_like(const char* op, const char* name, const Tensor& t, const Tensor& gate) {
  check_shape(op, name, t, gate.shape());
  check_dtype(op, name, t, {gate.dtype()});
}
}  // namespace

void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& h) {
  const char* op = "swiglu_forward";
  check_2d(op, "gate", gate);
  const Device d = common_device(op, {&gate, &up, &h});
  check_float_for_device(op, "gate", gate);
  check_like(op, "up", up, gate);
  check_like(op, "h", h, gate);
  NEFT_DISPATCH(d, swiglu_forward, gate, up, h);
}

void swiglu_backward(const Tensor& dh, const Tensor& gate, const Tensor& up, Tensor& dgate,
                     Tensor& dup) {
  const char* op = "swiglu_backward";
  check_2d(op, "gate", gate);
  const Device d = common_device(op, {&dh, &gate, &up, &dgate, &dup});
  check_float_for_device(op, "gate", gate);
  check_like(op, "dh", dh, gate);
  check_like(op, "up", up, gate);
  check_like(op, "dgate", dgate, gate);
  check_like(op, "dup", dup, gate);
  NEFT_DISPATCH(d, swiglu_backward, dh, gate, up, dgate, dup);
}

}  // namespace neft::ops
