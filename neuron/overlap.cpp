#include "neuron/overlap.h"

#include <algorithm>
#include <iterator>

namespace neft::neuron {

SetOverlap overlap(const std::vector<NeuronId>& a, const std::vector<NeuronId>& b) {
  std::vector<NeuronId> common;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
  const int64_t n = int64_t(common.size());
  return {n, int64_t(a.size() + b.size()) - n};
}

std::vector<SetOverlap> overlap_per_layer(const std::vector<NeuronId>& a,
                                          const std::vector<NeuronId>& b, int64_t layers) {
  std::vector<std::vector<NeuronId>> la(static_cast<size_t>(layers)), lb(la);
  for (NeuronId id : a) la.at(size_t(id_layer(id))).push_back(id);
  for (NeuronId id : b) lb.at(size_t(id_layer(id))).push_back(id);
  std::vector<SetOverlap> out;
  for (int64_t l = 0; l < layers; ++l) out.push_back(overlap(la[size_t(l)], lb[size_t(l)]));
  return out;
}

}  // namespace neft::neuron
