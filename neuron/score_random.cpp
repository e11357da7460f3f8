// The random scorer, the control of every comparison: a value that depends only on the seed
// and the neuron's global id, so every layout scores (and selects) the same neurons.
#include "neuron/scorer.h"
#include "neuron/scores.h"
#include "neuron/scores_detail.h"

namespace neft::neuron {

namespace {
// SplitMix64's finaliser: every input bit reaches every output bit.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

LocalScores score_random(const NeuronSpace& space, model::LlamaModel& model, uint64_t seed) {
  detail::check_layout(space, model, "random scores");
  const model::ModelOptions& o = model.options();
  const std::vector<NeuronId> ids = space.owned(o.tp.rank, o.pp_stage);
  std::vector<float> values;
  values.reserve(ids.size());
  // The top 24 bits: exactly representable, so the value is in [0, 1).
  for (NeuronId id : ids)
    values.push_back(float(mix(mix(seed) ^ uint64_t(id)) >> 40) * (1.0f / float(1 << 24)));
  return detail::local_scores(space, model, std::move(values));
}

namespace {
class RandomScorer : public Scorer {
 public:
  LocalScores score(const ScoringContext& c) const override {
    return score_random(c.space, c.model, c.seed);
  }
};
}  // namespace

std::unique_ptr<Scorer> make_random_scorer() { return std::make_unique<RandomScorer>(); }

}  // namespace neft::neuron
