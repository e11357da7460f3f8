// The weight-gradient scorer: the L2 norm of the loss's gradient over each neuron's vectors.
#include "neuron/scorer.h"
#include "neuron/scores.h"
#include "neuron/scores_detail.h"
#include "neuron/trainable.h"

namespace neft::neuron {

LocalScores score_wgrad(const NeuronSpace& space, model::LlamaModel& model,
                        const std::function<void()>& pass) {
  detail::check_layout(space, model, "wgrad scores");
  // Only the kinds' matrices get a (dense) weight gradient: the others cost no GEMM.
  freeze_all(model);
  detail::for_each_layer_kind(space, model, [&](int64_t layer, NeuronKind k, int64_t) {
    for (const NeuronMatrix& m : space.matrices(k))
      model.parameter(parameter_name(layer, m)).trainable = true;
  });
  pass();
  WeightSnapshot grads;
  detail::for_each_layer_kind(space, model, [&](int64_t layer, NeuronKind k, int64_t) {
    for (const NeuronMatrix& m : space.matrices(k)) {
      const std::string name = parameter_name(layer, m);
      const Parameter& p = model.parameter(name);
      if (!p.grad.defined() || p.grad.shape() != p.value.shape())
        fail("wgrad scores: the pass left no dense gradient for '", name,
             "' (it must run forward and backward over the scoring batches)");
      grads[name] = detail::host_f32(p.grad);
    }
  });
  freeze_all(model);  // frees the dense gradients
  return detail::local_scores(space, model,
                              detail::neuron_norms(space, model, grads, "wgrad scores"));
}

namespace {
class WgradScorer : public Scorer {
 public:
  LocalScores score(const ScoringContext& c) const override {
    return score_wgrad(c.space, c.model, c.passes);
  }
};
}  // namespace

std::unique_ptr<Scorer> make_wgrad_scorer() { return std::make_unique<WgradScorer>(); }

}  // namespace neft::neuron
