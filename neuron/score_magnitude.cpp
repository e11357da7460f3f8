// The magnitude scorer: the L2 norm of each neuron's weight vectors.
#include "neuron/scores.h"
#include "neuron/scores_detail.h"

namespace neft::neuron {

LocalScores score_magnitude(const NeuronSpace& space, model::LlamaModel& model) {
  detail::check_layout(space, model, "magnitude scores");
  const WeightSnapshot weights = snapshot_weights(model, space);
  return detail::local_scores(space, model,
                              detail::neuron_norms(space, model, weights, "magnitude scores"));
}

}  // namespace neft::neuron
