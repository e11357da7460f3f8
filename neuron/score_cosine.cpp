// The NeFT scorer: how far a short fine-tuning run turned each neuron's vectors.
#include <cmath>

#include "neuron/scorer.h"
#include "neuron/scores.h"
#include "neuron/scores_detail.h"

namespace neft::neuron {

LocalScores score_cosine(const NeuronSpace& space, model::LlamaModel& model,
                         const WeightSnapshot& base, const WeightSnapshot& probe) {
  detail::check_layout(space, model, "cosine scores");
  std::vector<float> values;
  detail::for_each_layer_kind(space, model, [&](int64_t layer, NeuronKind k, int64_t units) {
    const std::vector<NeuronMatrix> matrices = space.matrices(k);
    std::vector<double> cos_sum(size_t(units), 0.0);
    for (const NeuronMatrix& m : matrices) {
      const std::string name = parameter_name(layer, m);
      const detail::VectorSums s =
          detail::vector_sums(detail::find_matrix(base, name, "cosine scores (base)"),
                              detail::find_matrix(probe, name, "cosine scores (probe)"), m.axis);
      NEFT_CHECK(int64_t(s.ab.size()) == units, "cosine scores: ", name, " has ", s.ab.size(),
                 " units, expected ", units);
      for (size_t i = 0; i < cos_sum.size(); ++i)
        // A zero vector has no direction to lose: count it as unchanged.
        cos_sum[i] += s.aa[i] > 0 && s.bb[i] > 0 ? s.ab[i] / std::sqrt(s.aa[i] * s.bb[i]) : 1.0;
    }
    for (double c : cos_sum) values.push_back(float(1.0 - c / double(matrices.size())));
  });
  return detail::local_scores(space, model, std::move(values));
}

namespace {
class CosineScorer : public Scorer {
 public:
  LocalScores score(const ScoringContext& c) const override {
    const WeightSnapshot base = snapshot_weights(c.model, c.space);
    c.probe();
    const WeightSnapshot probed = snapshot_weights(c.model, c.space);
    restore_weights(c.model, base);
    return score_cosine(c.space, c.model, base, probed);
  }
};
}  // namespace

std::unique_ptr<Scorer> make_cosine_scorer() { return std::make_unique<CosineScorer>(); }

}  // namespace neft::neuron
