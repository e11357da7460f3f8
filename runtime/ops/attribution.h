// First-order attribution of units (neurons): for each column u of an activation, the sum
// over tokens of activation x gradient of the loss with respect to that activation — the
// change of the loss when the unit's output is scaled by (1 + eps), per eps. The scorers
// (neuron/scores.h) accumulate it over a task's data, which is why the op adds into `out`.
// CPU: f32, each column summed in double in token order (the same bits for any thread
// count). CUDA: f32/bf16/f16 inputs, fp32 arithmetic, a fixed-order block reduction per
// tile of columns (no atomics): the same bits every run.
#pragma once
#include "runtime/tensor.h"

namespace neft::ops {

// act, grad: [N, U], one float dtype; out: [U] f32 on their device, accumulated:
//   absolute: out[u] += sum_n |act[n, u] * grad[n, u]|
//   signed:   out[u] += sum_n act[n, u] * grad[n, u]
void attribution_accumulate(const Tensor& act, const Tensor& grad, Tensor& out, bool absolute);

template <Device D>
void attribution_accumulate(const Tensor& act, const Tensor& grad, Tensor& out, bool absolute);

}  // namespace neft::ops
