#include "optim/schedule.h"

#include <cmath>
#include <numbers>

#include "runtime/error.h"

namespace neft::optim {

float LrSchedule::at(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return lr * float(step + 1) / float(warmup_steps);
  if (kind == "constant") return lr;
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - warmup_steps);
  const double progress = std::min(1.0, double(step - warmup_steps) / double(decay_steps));
  const double shape =
      kind == "linear" ? 1.0 - progress : 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return float(double(min_lr) + (double(lr) - double(min_lr)) * shape);
}

void LrSchedule::validate() const {
  if (kind != "constant" && kind != "linear" && kind != "cosine")
    fail("lr-schedule: '", kind, "' is not one of constant, linear, cosine");
  if (!(lr >= 0.0f) || !std::isfinite(lr)) fail("lr: ", lr, " must be a finite number >= 0");
  if (!(min_lr >= 0.0f) || min_lr > lr) fail("min-lr: ", min_lr, " must be in [0, lr = ", lr, "]");
  if (warmup_steps < 0) fail("warmup: ", warmup_steps, " must be >= 0");
  if (total_steps < 1) fail("steps: ", total_steps, " must be >= 1");
}

}  // namespace neft::optim
