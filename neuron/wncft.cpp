#include "neuron/wncft.h"

#include <algorithm>
#include <cmath>

#include "neuron/delta.h"
#include "runtime/error.h"

namespace neft::neuron {

std::vector<double> task_weights(const std::vector<std::vector<float>>& vectors, size_t task,
                                 size_t trained) {
  NEFT_CHECK(task < vectors.size() && trained >= 1 && trained <= vectors.size(),
             "task weights: task ", task, ", ", trained, " trained of ", vectors.size());
  auto cosine = [](const std::vector<float>& a, const std::vector<float>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      ab += double(a[i]) * b[i];
      aa += double(a[i]) * a[i];
      bb += double(b[i]) * b[i];
    }
    return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
  };
  std::vector<double> w(trained);
  for (size_t k = 0; k < trained; ++k) w[k] = cosine(vectors[task], vectors[k]);
  const double top = *std::max_element(w.begin(), w.end());
  double sum = 0;
  for (double& x : w) sum += (x = std::exp(x - top));
  for (double& x : w) x /= sum;
  return w;
}

NeuronRows selected_neuron_rows(model::LlamaModel& model) {
  NeuronRows rows;
  for (const Parameter* p : model.parameters())
    if (p->neuron_level()) rows[p->name] = selected_rows(*p).to_floats();
  return rows;
}

void write_weighted_rows(model::LlamaModel& model, const std::vector<NeuronRows>& stages,
                         const std::vector<double>& weights) {
  NEFT_CHECK(stages.size() == weights.size(), "weighted rows: ", stages.size(), " stages, ",
             weights.size(), " weights");
  for (Parameter* p : model.parameters()) {
    if (!p->neuron_level()) continue;
    std::vector<double> sum;
    for (size_t k = 0; k < stages.size(); ++k) {
      const std::vector<float>& r = stages[k].at(p->name);
      sum.resize(r.size(), 0.0);
      for (size_t i = 0; i < r.size(); ++i) sum[i] += weights[k] * r[i];
    }
    write_selected_rows(*p, std::vector<float>(sum.begin(), sum.end()));
  }
}

}  // namespace neft::neuron
