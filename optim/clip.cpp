#include "optim/clip.h"

#include <cmath>

#include "runtime/ops/reduce.h"

namespace neft::optim {

double global_grad_norm(const ParameterList& params) {
  // One device-side accumulator for every gradient: one host sync for the whole norm.
  Tensor total;
  for (const Parameter* p : params) {
    if (!p->grad.defined()) continue;
    if (!total.defined()) total = Tensor::zeros({1}, DType::F32, p->grad.device());
    ops::sum_squares(p->grad, total, /*accumulate=*/true);
  }
  if (!total.defined()) return 0.0;
  return std::sqrt(double(total.to_floats()[0]));
}

float clip_factor(double norm, float max_norm) {
  if (max_norm <= 0.0f) return 1.0f;
  const double factor = double(max_norm) / (norm + 1e-6);
  return factor < 1.0 ? float(factor) : 1.0f;
}

}  // namespace neft::optim
