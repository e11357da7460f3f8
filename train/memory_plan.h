// The plan of one training step on each rank, from the shapes alone: the bytes the rank
// holds at its peak, by what holds them, the bytes it sends over its tensor-, data- and
// pipeline-parallel groups, and the FLOPs it computes. `neft plan` prints it (with the time
// model of train/gpu_model.h); the tests hold it to what `neft train` measures
// (train/rank_stats.h): the communication bytes exactly, the categories exactly, the peak
// within the few transient buffers the plan leaves out.
//
// The plan follows the code, not a textbook: every buffer the model, the optimizer, the
// pipeline schedule and the gradient sync allocate (model/llama.cpp, model/block.cpp,
// optim/adamw.cpp, train/train_step.cpp, parallel/grad_sync.cpp), and every collective
// they make, counted as the Communicator counts it (parallel/communicator.h: the ring volume
// each rank sends, each operation's fraction rounded down), the distributed optimizer's
// (optim/distributed_optimizer.cpp) and sequence parallelism's (model/tensor_parallel.h)
// included.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "lora/lora.h"
#include "model/config.h"
#include "model/llama.h"
#include "neuron/neuron_set.h"
#include "neuron/neuron_space.h"
#include "neuron/selection.h"
#include "runtime/dtype.h"
#include "train/train_options.h"

namespace neft::train {

enum class PlanTraining { Full, Neurons, Lora };

// The selected neurons of each layer, kind and tensor-parallel rank:
// count[layer][kind][tp rank].
struct NeuronCounts {
  neuron::NeuronKinds kinds;
  std::vector<std::array<std::vector<int64_t>, neuron::kNeuronKinds>> count;
  int64_t neurons = 0, params = 0;  // over the whole model
};
// A neuron set's neurons, counted where `space` puts them.
NeuronCounts count_neurons(const neuron::NeuronSet& set, const neuron::NeuronSpace& space);
// A budget of FFN neurons (space's kinds must be ffn alone) spread evenly: each layer the same
// share, each rank of a layer the same share of it (the first ones one more where the shares
// do not divide). A budget in parameters becomes neurons as `neft select` turns it.
NeuronCounts spread_neurons(const neuron::NeuronSpace& space, const neuron::Budget& budget);

struct PlanSpec {
  model::LlamaConfig config;
  int tp = 1, pp = 1, dp = 1;
  int64_t seq_len = 64, micro_batch = 1, grad_accum = 1;
  DType dtype = DType::F32;  // weights and activations; gradients and optimizer state are f32
  bool cuda = false;         // count the CUDA backend's backward transients
  bool recompute = false;
  // ZeRO-1 (optim/state_partition.h): master copies and moments of 1/dp of each parameter's
  // rows; the plan is dp rank `dp_rank`'s (rank 0 holds the most: one row more of each
  // parameter whose rows dp does not divide).
  bool distributed_optimizer = false;
  int dp_rank = 0;
  bool sequence_parallel = false;  // a no-op at tp 1
  PlanTraining training = PlanTraining::Full;
  NeuronCounts neurons;   // PlanTraining::Neurons
  lora::LoraConfig lora;  // PlanTraining::Lora
};

// What `neft train` with these options runs on a world of `world_size` ranks (its neuron file
// read, its LoRA options taken), so a run can be planned exactly. Fails as the run would on a
// layout that does not divide.
PlanSpec plan_spec_of(const TrainOptions& options, int world_size);

// Bytes at the rank's peak. The rows add up to `total`: `comm_buffers` and `workspace` are
// what is alive at the peak (the pipeline's buffers and the gradient sync's bucket never are
// at once; see peak_phase).
struct RankMemory {
  int64_t weights = 0;       // the parameters' values (LoRA's adapters included)
  int64_t gradients = 0;     // f32, of what trains (compact rows for neuron-level matrices)
  int64_t master = 0;        // f32 master copies: where weights are not f32, and always for
                             // neuron-level rows
  int64_t moments = 0;       // AdamW's two f32 moments
  int64_t activations = 0;   // the model's buffers: what backward reads, its scratch, the
                             // head's logits (LlamaModel::activation_bytes) and LoRA's [N, r]
                             // (and its dropout's [N, in] buffer)
  int64_t comm_buffers = 0;  // pipeline receive buffers, or the packed bucket
  int64_t workspace = 0;     // the batch's tensors, neuron indices, transients of the pass
  int64_t total = 0;
  // "forward-backward" (activations and pipeline buffers at their height) or "gradient sync"
  // (the data-parallel bucket on top of them).
  const char* peak_phase = "forward-backward";
};

struct RankPlan {
  int tp_rank = 0, pp_stage = 0;
  model::LayerRange layers;
  int64_t trained_parameters = 0;  // AdamW's elements (optim::AdamW::trained_parameters)
  RankMemory memory;
  // What the rank's communicators count in one step (Communicator::bytes_sent).
  int64_t tp_bytes_per_step = 0, dp_bytes_per_step = 0, pp_bytes_per_step = 0;
  // Micro-batch forward passes of the stage in a step: grad-accum (a pipeline stage keeps each
  // micro-batch's activations until its backward: train/train_step.cpp).
  int64_t forwards_per_step = 0;
  double flops_per_step = 0;  // matrix products and attention, forward and backward
};

// One plan per (pipeline stage, tensor rank), stage-major, for data-parallel rank
// spec.dp_rank (the replicas are alike but for the distributed optimizer's shares).
std::vector<RankPlan> plan_ranks(const PlanSpec& spec);
// The index of the rank with the largest total (the first of equals).
size_t most_loaded(const std::vector<RankPlan>& ranks);

}  // namespace neft::train
