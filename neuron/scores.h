// The scoring functions the scorers (neuron/scorer.h) are made of: how important each neuron
// is for a task, one value per neuron this rank owns (DESIGN.md §1). Every one reads only
// this rank's shards and returns LocalScores whose ids are NeuronSpace::owned(tp rank, pp
// stage) of the model's layout, in that order; a higher value is selected first.
// Data-parallel replicas end with identical scores.
//
//   cosine       NeFT: 1 - the mean over the neuron's vectors of cos(base, probed weights),
//                after a short full fine-tuning "probe" run (the caller runs it between two
//                snapshots). A vector of norm 0 on either side counts as unchanged (cos 1).
//   attribution  task-specific neurons: first-order attribution of the neuron's output,
//                activation x d(loss)/d(activation), accumulated over task data through the
//                model's unit hooks (model/unit_hooks.h), per token |.| (token-abs, the
//                default) or |signed total| (abs-total).
//   wgrad        the L2 norm of the loss's gradient over the neuron's weight vectors.
//   magnitude    the L2 norm of the neuron's weight vectors.
//   random       the control: a hash of (seed, global id), the same at every layout.
//
// Weights may be bf16 on CUDA: scorers read host f32 copies (scoring runs once).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "model/llama.h"
#include "neuron/local_scores.h"
#include "neuron/neuron_space.h"
#include "parallel/communicator.h"

namespace neft::neuron {

// How attribution adds up over tokens: "token-abs" sums |a * g| per token (the default);
// "abs-total" takes |sum of a * g| (the first-order change of the loss when the unit is
// scaled, whose per-token terms may cancel).
enum class AttributionRule { TokenAbs, AbsTotal };
AttributionRule attribution_rule_from_name(const std::string& name);
const char* attribution_rule_name(AttributionRule r);

// Host f32 copies of this rank's shards of the kinds' matrices (on its stage), by HF name.
using WeightSnapshot = std::map<std::string, Tensor>;
WeightSnapshot snapshot_weights(model::LlamaModel& model, const NeuronSpace& space);
// Writes the snapshot back into the model's weights (bitwise for CPU f32 and bf16 models).
void restore_weights(model::LlamaModel& model, const WeightSnapshot& snapshot);

// 1 - mean cos(base, probe) over each neuron's vectors; both snapshots of `model`'s layout.
LocalScores score_cosine(const NeuronSpace& space, model::LlamaModel& model,
                         const WeightSnapshot& base, const WeightSnapshot& probe);
// The L2 norm over all the neuron's vectors of the model's current weights.
LocalScores score_magnitude(const NeuronSpace& space, model::LlamaModel& model);
// A hash of (seed, global id) in [0, 1).
LocalScores score_random(const NeuronSpace& space, model::LlamaModel& model, uint64_t seed);

// Freezes every parameter (freeze_all: no weight gradient is computed), installs attribution
// hooks, runs `passes` (the caller's forward and backward passes over the task data, e.g.
// launch::forward_backward per step), reads this rank's accumulators, sums them over `dp`
// when it has more than one rank (each replica saw its own data) and removes the hooks.
// Returns with every parameter frozen: the caller restores training (train_all/train_only).
LocalScores score_attribution(const NeuronSpace& space, model::LlamaModel& model,
                              AttributionRule rule, const std::function<void()>& passes,
                              parallel::Communicator* dp);
// Freezes every parameter but the kinds' matrices (dense), runs `pass` (one forward_backward
// over the scoring micro-batches: it zeroes the gradients, accumulates them and sums them
// over data-parallel ranks), and scores each neuron by the L2 norm of its gradient vectors.
// Returns with every parameter frozen (the gradients freed): the caller restores training.
LocalScores score_wgrad(const NeuronSpace& space, model::LlamaModel& model,
                        const std::function<void()>& pass);

}  // namespace neft::neuron
