// AdamW over a list of parameters (decoupled weight decay, bias correction; PyTorch's
// operation order, runtime/ops/adamw.h). Where a parameter's value is not f32 (bf16 on
// CUDA) the optimizer keeps an f32 master copy, updates it and casts it back into the
// value; where it is f32 (CPU) the value is the master. Moments are f32.
//
// Frozen parameters (Parameter::trainable false) get no state. A neuron-level parameter
// (Parameter::neuron_index) gets compact state, [K, C] for its K selected neurons: f32 master
// rows (always, so the weight is only ever written on those rows), gradient and moments, and
// its update writes the selected rows of the weight and nothing else.
//
// With a StatePartition over data-parallel ranks (the distributed optimizer, ZeRO-1:
// optim/state_partition.h) the optimizer keeps master rows and moments for this rank's rows of
// each parameter only and updates those rows alone; the gradients it reads must hold their sum
// over the group there (reduce_scatter_gradients), and the other ranks' rows reach the value
// afterwards (all_gather_parameters).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "optim/state_partition.h"
#include "runtime/parameter.h"

namespace neft::optim {

struct AdamWConfig {
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float weight_decay = 0.1f;  // applied to parameters with Parameter::decay only
};

class AdamW {
 public:
  AdamW(ParameterList params, const AdamWConfig& config, StatePartition partition = {});

  // One update of every parameter that has a gradient, at learning rate lr, with the
  // gradients multiplied by grad_scale first (the clipping factor). Counts the step.
  void step(float lr, float grad_scale = 1.0f);
  int64_t steps_taken() const { return step_; }
  // Training-state bytes on this rank: master copies, moments and gradients.
  size_t state_bytes() const;
  // Elements of the parameters this rank's model trains (whole gradients, whatever the
  // partition).
  int64_t trained_parameters() const;
  // The rows of p's state this rank keeps and updates (all of them without a partition).
  const StatePartition& partition() const { return partition_; }
  RowRange owned_rows(const Parameter& p) const { return partition_.of(p); }

  // Optimizer state as named f32 tensors ("<param>.exp_avg", "<param>.exp_avg_sq",
  // "<param>.master" where a master copy exists), for checkpoints: this rank's rows of each
  // (owned_rows).
  std::vector<std::pair<std::string, Tensor>> state() const;
  // Restores state() output (names and shapes must match) and the step count.
  void load_state(const std::vector<std::pair<std::string, Tensor>>& tensors, int64_t steps);

 private:
  struct Slot {
    Parameter* param;
    RowRange rows;                       // of the gradient's rows: the state's
    Tensor master, exp_avg, exp_avg_sq;  // master undefined when the value is f32
  };
  std::vector<Slot> slots_;
  AdamWConfig config_;
  StatePartition partition_;
  int64_t step_ = 0;
};

}  // namespace neft::optim
