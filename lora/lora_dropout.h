// LoRA's dropout, as PEFT's lora_dropout: in a training forward an adapter reads dropout(x) in
// place of its input x [N, in], y = x Wᵀ + (alpha / r) B A dropout(x), each entry zeroed with
// probability p and the others scaled by 1 / (1 - p); the base weight reads x itself.
// Evaluation, generation, scoring and merge drop nothing: only a forward with a micro-batch
// key (model/micro_batch_key.h, set by the training step) draws a mask.
//
// The mask does not depend on the layout: entry (i, j) of the whole input, token row i of the
// micro-batch and input column j, is kept or not by one Philox draw keyed by (run seed,
// optimizer step, micro-batch index in the step, layer, target, i, j) (ops::DropoutMask).
// Under tensor parallelism a column-parallel base's input (q, k, v, gate, up) is whole on
// every rank, which all draw the same mask; a row-parallel base's input (o, down) is split by
// columns, and each rank draws its own columns' entries by their whole index. Data-parallel
// ranks' micro-batches have different indices in the step; a block's forward run again in
// backward (recompute) draws the same mask again, under the key of the micro-batch it
// differentiates (model/stage_activations.h).
//
// Backward draws the mask again rather than keeping it. Kept, it would be an [N, in] mask (or
// the dropped input) per target and layer, the projections' inputs over again; drawn again it
// costs one [N, in] working buffer per rank, shared by all the rank's adapters (the largest
// input a target has there, [N, intermediate / tp] with down), and two more draws per input
// entry in backward (for A's gradient and for the input's).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>

#include "model/micro_batch_key.h"
#include "runtime/ops/elementwise.h"
#include "runtime/tensor.h"

namespace neft::lora {

// The mask of target `target` (its index in q, k, v, o, gate, up, down) of `layer` in the
// training forward of micro-batch `key`, for an input holding the columns [col0, col0 + cols)
// of the whole [N, full_cols] one.
ops::DropoutMask dropout_mask(float p, uint64_t seed, const model::MicroBatchKey& key,
                              int64_t layer, int64_t target, int64_t full_cols, int64_t col0);

// The working buffer of a model's adapters: a [rows, cols] view of one allocation, which
// grows to the largest asked for and stays (every adapter of a model runs in turn).
class DropoutBuffer {
 public:
  Tensor get(int64_t rows, int64_t cols, DType dtype, Device device);

 private:
  Tensor storage_;
};

// An adapter's dropout: its rate, where its masks come from, and the shared buffer.
struct InputDropout {
  float p = 0;  // 0: none
  uint64_t seed = 0;
  int64_t layer = 0, target = 0;
  const std::optional<model::MicroBatchKey>* key = nullptr;  // the model's (outlives it)
  std::shared_ptr<DropoutBuffer> buffer;
};

}  // namespace neft::lora
