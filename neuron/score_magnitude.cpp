// The magnitude scorer: the L2 norm of each neuron's weight vectors.
#include "neuron/scorer.h"
#include "neuron/scores.h"
#include "neuron/scores_detail.h"

namespace neft::neuron {

LocalScores score_magnitude(const NeuronSpace& space, model::LlamaModel& model) {
  detail::check_layout(space, model, "magnitude scores");
  const WeightSnapshot weights = snapshot_weights(model, space);
  return detail::local_scores(space, model,
                              detail::neuron_norms(space, model, weights, "magnitude scores"));
}

namespace {
class MagnitudeScorer : public Scorer {
 public:
  LocalScores score(const ScoringContext& c) const override {
    return score_magnitude(c.space, c.model);
  }
};
}  // namespace

std::unique_ptr<Scorer> make_magnitude_scorer() { return std::make_unique<MagnitudeScorer>(); }

}  // namespace neft::neuron
