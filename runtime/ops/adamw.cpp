#include "runtime/ops/adamw.h"

#include <vector>

#include "runtime/ops/dispatch.h"

namespace neft::ops {

namespace {

void check_params(const char* op, const AdamWParams& p) {
  if (p.step < 1) fail(op, ": step ", p.step, " must be at least 1 (it is 1-based)");
  if (!(p.beta1 >= 0 && p.beta1 < 1) || !(p.beta2 >= 0 && p.beta2 < 1))
    fail(op, ": betas (", p.beta1, ", ", p.beta2, ") must lie in [0, 1)");
}

// param/master, m, v f32 and grad of the same shape.
void check_state(const char* op, const char* param_name, const Tensor& param, const Tensor& grad,
                 const Tensor& m, const Tensor& v) {
  check_dtype(op, param_name, param, {DType::F32});
  check_float_for_device(op, "grad", grad);
  check_shape(op, "grad", grad, param.shape());
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"m", &m}, {"v", &v}}) {
    check_shape(op, name, *t, param.shape());
    check_dtype(op, name, *t, {DType::F32});
  }
}

}  // namespace

void adamw_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p) {
  const char* op = "adamw_update";
  const Device d = common_device(op, {&param, &grad, &m, &v});
  check_params(op, p);
  check_state(op, "param", param, grad, m, v);
  NEFT_DISPATCH(d, adamw_update, param, grad, m, v, p);
}

void adamw_update_rows(Tensor& master, const Tensor& grad, Tensor& m, Tensor& v,
                       const AdamWParams& p, const Tensor& idx, int axis, Tensor& weight) {
  const char* op = "adamw_update_rows";
  const Device d = common_device(op, {&master, &grad, &m, &v, &idx, &weight});
  check_params(op, p);
  check_state(op, "master", master, grad, m, v);
  check_rank(op, "master", master, 2, "[K, C]");
  if (axis != 0 && axis != 1) fail(op, ": axis ", axis, " must be 0 or 1");
  check_float_for_device(op, "weight", weight);
  check_rank(op, "weight", weight, 2, "[R, C] or [C, R]");
  const int64_t k = master.size(0), c = master.size(1);
  const int64_t r = weight.size(axis), wc = weight.size(1 - axis);
  if (wc != c)
    fail(op, ": weight ", weight.str(), " has ", wc, " entries per neuron along axis ", axis,
         ", master ", master.str(), " has ", c);
  check_shape(op, "idx", idx, {k});
  check_dtype(op, "idx", idx, {DType::I32});
  if (idx.device() == Device::CPU) {
    const int32_t* id = idx.data<int32_t>();
    std::vector<bool> seen(static_cast<size_t>(r), false);
    for (int64_t i = 0; i < k; ++i) {
      if (id[i] < 0 || id[i] >= r) fail(op, ": idx[", i, "] = ", id[i], " is outside [0, ", r, ")");
      if (seen[size_t(id[i])]) fail(op, ": idx[", i, "] = ", id[i], " appears twice");
      seen[size_t(id[i])] = true;
    }
  }
  NEFT_DISPATCH(d, adamw_update_rows, master, grad, m, v, p, idx, axis, weight);
}

}  // namespace neft::ops
