// One interface for every scorer, and the registry that names them (DESIGN.md §1). A scorer
// turns what it is given (the model, task passes, the probe, a seed) into a value for each
// neuron this rank owns (LocalScores, in NeuronSpace::owned order; higher is selected first).
// Adding one is one file that implements Scorer, plus its line in scorer_registry.cpp.
//
// The registry's scorers (neuron/scores.h has the functions they call):
//   cosine       NeFT: 1 - cos(base, probed) of the neuron's vectors around the probe
//   attribution  task-specific neurons: |activation x gradient| of the neuron's output
//   wgrad        the L2 norm of the loss's gradient over the neuron's vectors
//   magnitude    the L2 norm of the neuron's weights
//   random       the control: a hash of (seed, global id)
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/llama.h"
#include "neuron/local_scores.h"
#include "neuron/neuron_space.h"
#include "neuron/scores.h"
#include "parallel/communicator.h"

namespace neft::neuron {

// What a scorer may use; a scorer that reads task data calls `passes` or `probe`.
struct ScoringContext {
  const NeuronSpace& space;
  model::LlamaModel& model;
  // Forward and backward over the task's scoring micro-batches: zeroes the gradients of the
  // trainable parameters, accumulates them and sums them over data-parallel ranks.
  std::function<void()> passes;
  // Moves the model's weights to their fine-tuned values on the task (NeFT's probe run, or
  // a probed copy loaded); the scorer puts the weights back.
  std::function<void()> probe;
  parallel::Communicator* dp = nullptr;  // data-parallel replicas, each with its own data
  uint64_t seed = 0;
  AttributionRule rule = AttributionRule::TokenAbs;
};

class Scorer {
 public:
  virtual ~Scorer() = default;
  // This rank's scores. A scorer may freeze parameters (the caller restores training);
  // it leaves the weights as it found them.
  virtual LocalScores score(const ScoringContext& context) const = 0;
};

struct ScorerInfo {
  const char* name;
  const char* summary;  // a clause for --help: what the score is
  std::unique_ptr<Scorer> (*make)();
};

// Every scorer, in the order --help lists them.
const std::vector<ScorerInfo>& scorer_registry();
// The scorer of that name; a one-line error listing the names for another.
const ScorerInfo& find_scorer(const std::string& name);
std::vector<std::string> scorer_names();

// Each scorer's factory (its own file).
std::unique_ptr<Scorer> make_cosine_scorer();
std::unique_ptr<Scorer> make_attribution_scorer();
std::unique_ptr<Scorer> make_wgrad_scorer();
std::unique_ptr<Scorer> make_magnitude_scorer();
std::unique_ptr<Scorer> make_random_scorer();

}  // namespace neft::neuron
