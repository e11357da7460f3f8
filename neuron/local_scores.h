// One rank's scores: a value for each neuron it owns. Every scorer returns this and every
// selection takes it, so scores never leave the rank that owns the neurons; only counts and
// thresholds travel (neuron/selection.h).
#pragma once
#include <vector>

#include "neuron/neuron_space.h"

namespace neft::neuron {

struct LocalScores {
  std::vector<NeuronId> ids;  // ascending: the neurons this rank owns (NeuronSpace::owned)
  std::vector<float> values;  // one per id; higher = more important (selected first)
};

}  // namespace neft::neuron
