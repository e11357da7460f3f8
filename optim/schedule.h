// Learning-rate schedules: constant, linear decay and cosine decay, each after a linear
// warmup from 0, decaying to min_lr at total_steps (as Megatron's and nanoGPT's).
#pragma once
#include <cstdint>
#include <string>

namespace neft::optim {

struct LrSchedule {
  std::string kind = "cosine";  // constant | linear | cosine
  float lr = 3e-4f;             // peak
  float min_lr = 0.0f;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;

  // The learning rate of 0-based step `step`.
  float at(int64_t step) const;
  // Fails naming the key when kind is unknown or the numbers are inconsistent.
  void validate() const;
};

}  // namespace neft::optim
