#include "neuron/scorer.h"

#include "runtime/error.h"
#include "runtime/text.h"

namespace neft::neuron {

const std::vector<ScorerInfo>& scorer_registry() {
  static const std::vector<ScorerInfo> registry = {
      {"cosine",
       "NeFT: 1 - cosine similarity of each neuron's vectors before and after a short full "
       "fine-tuning probe",
       &make_cosine_scorer},
      {"attribution",
       "task-specific neurons: |activation x gradient| of each neuron's output over task data",
       &make_attribution_scorer},
      {"wgrad", "the norm of the neuron's weight gradient over task data", &make_wgrad_scorer},
      {"magnitude", "the norm of the neuron's weights", &make_magnitude_scorer},
      {"random", "the control: a hash of the seed and the neuron's id", &make_random_scorer},
  };
  return registry;
}

std::vector<std::string> scorer_names() {
  std::vector<std::string> names;
  for (const ScorerInfo& s : scorer_registry()) names.push_back(s.name);
  return names;
}

const ScorerInfo& find_scorer(const std::string& name) {
  for (const ScorerInfo& s : scorer_registry())
    if (name == s.name) return s;
  fail("scorer: unknown scorer '", name, "' (expected ", join(scorer_names(), ", "), ")");
}

}  // namespace neft::neuron
