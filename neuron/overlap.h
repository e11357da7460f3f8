// Overlap of neuron sets, the task-specific-neurons paper's measure of what tasks share:
// intersection over union (Jaccard), |A ∩ B| / |A ∪ B|, over the whole model and per layer.
// Sets are global ids (neuron_space.h), so sets made at different layouts compare as they are.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "neuron/neuron_space.h"

namespace neft::neuron {

struct SetOverlap {
  int64_t common = 0, either = 0;  // |A ∩ B|, |A ∪ B|
  // NaN when both are empty (nothing to compare).
  double iou() const { return either > 0 ? double(common) / double(either) : std::nan(""); }
};

// a, b ascending.
SetOverlap overlap(const std::vector<NeuronId>& a, const std::vector<NeuronId>& b);
// One per layer 0..layers-1: the overlap of the sets' neurons in that layer.
std::vector<SetOverlap> overlap_per_layer(const std::vector<NeuronId>& a,
                                          const std::vector<NeuronId>& b, int64_t layers);

}  // namespace neft::neuron
