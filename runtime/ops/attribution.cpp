#include "runtime/ops/attribution.h"

#include "runtime/ops/dispatch.h"

namespace neft::ops {

void attribution_accumulate(const Tensor& act, const Tensor& grad, Tensor& out, bool absolute) {
  const char* op = "attribution_accumulate";
  const Device d = common_device(op, {&act, &grad, &out});
  check_rank(op, "act", act, 2, "[N, U]");
  check_float_for_device(op, "act", act);
  check_shape(op, "grad", grad, act.shape());
  check_dtype(op, "grad", grad, {act.dtype()});
  check_shape(op, "out", out, {act.size(1)});
  check_dtype(op, "out", out, {DType::F32});
  NEFT_DISPATCH(d, attribution_accumulate, act, grad, out, absolute);
}

}  // namespace neft::ops
