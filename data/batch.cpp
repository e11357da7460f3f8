// Batch helpers (see batch.h).
#include "data/batch.h"

#include <algorithm>

#include "runtime/error.h"

namespace neft::data {

Batch Batch::padded(int64_t B, int64_t T) {
  NEFT_CHECK(B > 0 && T > 0, "batch shape must be positive, got B=", B, " T=", T);
  Batch b;
  b.B = B;
  b.T = T;
  b.tokens.assign(size_t(B * T), 0);
  b.targets.assign(size_t(B * T), kIgnoreIndex);
  b.positions.assign(size_t(B * T), 0);
  b.task.assign(size_t(B), -1);
  b.real = 0;
  return b;
}

int64_t Batch::counted() const {
  return std::count_if(targets.begin(), targets.end(), [](int32_t t) { return t != kIgnoreIndex; });
}

BatchTensors to_tensors(const Batch& b, Device device) {
  return {Tensor::from_ints(b.tokens, {b.B, b.T}, device),
          Tensor::from_ints(b.targets, {b.B, b.T}, device),
          Tensor::from_ints(b.positions, {b.B, b.T}, device)};
}

}  // namespace neft::data
