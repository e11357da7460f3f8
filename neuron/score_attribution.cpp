// The task-specific-neuron scorer: first-order attribution of each neuron's output over the
// caller's passes, read from the model's accumulators (model/llama.h UnitAttribution).
#include <cmath>

#include "neuron/scores.h"
#include "neuron/scores_detail.h"
#include "neuron/trainable.h"

namespace neft::neuron {

namespace {
const Tensor& accumulator(const model::UnitAttribution& a, NeuronKind k) {
  return k == NeuronKind::Ffn ? a.ffn : k == NeuronKind::QO ? a.qo : a.kv;
}

// Attribution is off again however the passes end (an error in them included).
struct AttributionOn {
  model::LlamaModel& model;
  AttributionOn(model::LlamaModel& m, bool absolute) : model(m) {
    model.set_attribution(true, absolute);
  }
  ~AttributionOn() { model.set_attribution(false); }
};
}  // namespace

LocalScores score_attribution(const NeuronSpace& space, model::LlamaModel& model,
                              AttributionRule rule, const std::function<void()>& passes,
                              parallel::Communicator* dp) {
  detail::check_layout(space, model, "attribution scores");
  freeze_all(model);
  std::vector<float> values;
  {
    // abs-total sums the signed products and takes |.| once every replica's are in.
    AttributionOn on(model, rule == AttributionRule::TokenAbs);
    passes();
    detail::for_each_layer_kind(space, model, [&](int64_t layer, NeuronKind k, int64_t units) {
      const std::vector<float> a = accumulator(model.attribution(layer), k).to_floats();
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

}  // namespace neft::neuron
