// The task-specific-neuron scorer: first-order attribution of each neuron's output over the
// caller's passes, accumulated by unit hooks (model/unit_hooks.h) on this rank's layers.
#include <cmath>

#include "neuron/scorer.h"
#include "neuron/scores.h"
#include "neuron/scores_detail.h"
#include "neuron/trainable.h"
#include "runtime/ops/attribution.h"

namespace neft::neuron {

namespace {

// Per layer of the model's stage, f32 [local units] per kind on the model's device, summed
// over every backward pass while installed: for unit u, the sum over tokens of (its output)
// x d(loss)/d(its output), absolute per token or signed. A kv unit adds its k (before RoPE)
// and v terms. Signed, it is d(loss)/d(eps) when the unit's output is scaled by (1 + eps).
class AttributionHooks : public model::UnitHooks {
 public:
  AttributionHooks(model::LlamaModel& model, bool absolute) : model_(model), absolute_(absolute) {
    const model::LayerRange r = model.layers();
    const model::LlamaConfig& c = model.config();
    const model::TensorParallel& tp = model.options().tp;
    first_layer_ = r.first;
    auto zeros = [&](int64_t n, const char* what) {
      return Tensor::zeros({tp.local(n, what)}, DType::F32, model.options().device);
    };
    for (int64_t l = r.first; l < r.last; ++l)
      sums_.push_back({zeros(c.intermediate, "intermediate_size"), zeros(c.q_dim(), "q_dim"),
                       zeros(c.kv_dim(), "kv_dim")});
    model_.set_unit_hooks(this);
  }
  ~AttributionHooks() override { model_.set_unit_hooks(nullptr); }

  bool wants_backward() const override { return true; }
  void backward(int64_t layer, model::UnitSite site, const Tensor& out, Tensor& grad) override {
    ops::attribution_accumulate(out, grad, sum(layer, site), absolute_);
  }

  const Tensor& sum(int64_t layer, NeuronKind k) const {
    const LayerSums& s = sums_.at(size_t(layer - first_layer_));
    return k == NeuronKind::Ffn ? s.ffn : k == NeuronKind::QO ? s.qo : s.kv;
  }

 private:
  struct LayerSums {
    Tensor ffn, qo, kv;
  };
  Tensor& sum(int64_t layer, model::UnitSite site) {
    LayerSums& s = sums_.at(size_t(layer - first_layer_));
    switch (site) {
      case model::UnitSite::FfnHidden:
        return s.ffn;
      case model::UnitSite::AttentionOutput:
        return s.qo;
      default:  // Key and Value both add into the kv unit
        return s.kv;
    }
  }

  model::LlamaModel& model_;
  const bool absolute_;
  int64_t first_layer_ = 0;
  std::vector<LayerSums> sums_;
};

class AttributionScorer : public Scorer {
 public:
  LocalScores score(const ScoringContext& c) const override {
    return score_attribution(c.space, c.model, c.rule, c.passes, c.dp);
  }
};

}  // namespace

LocalScores score_attribution(const NeuronSpace& space, model::LlamaModel& model,
                              AttributionRule rule, const std::function<void()>& passes,
                              parallel::Communicator* dp) {
  detail::check_layout(space, model, "attribution scores");
  freeze_all(model);
  std::vector<float> values;
  {
    // abs-total sums the signed products and takes |.| once every replica's are in. The
    // hooks come off however the passes end (an error in them included).
    AttributionHooks hooks(model, rule == AttributionRule::TokenAbs);
    passes();
    detail::for_each_layer_kind(space, model, [&](int64_t layer, NeuronKind k, int64_t units) {
      const std::vector<float> a = hooks.sum(layer, k).to_floats();
      NEFT_CHECK(int64_t(a.size()) == units, "attribution scores: ", a.size(), " units, expected ",
                 units);
      values.insert(values.end(), a.begin(), a.end());
    });
  }
  if (dp && dp->size() > 1) {
    Tensor t = Tensor::from_floats(values, {int64_t(values.size())});
    dp->all_reduce(t);
    values = t.to_floats();
  }
  if (rule == AttributionRule::AbsTotal)
    for (float& v : values) v = std::fabs(v);
  return detail::local_scores(space, model, std::move(values));
}

std::unique_ptr<Scorer> make_attribution_scorer() { return std::make_unique<AttributionScorer>(); }

}  // namespace neft::neuron
