// Neuron-set files: the file every neuron command reads and writes. A scorer writes one that
// scores every neuron (budget "all"); a selection writes the neurons it chose with their
// scores; training, analysis and export read either.
//
// The file is safetensors, so that any tool can open it: "ids" I64 [K] (global neuron ids,
// ascending) and "scores" F32 [K], with how the set was made and the shape of the model it was
// made for in __metadata__ (format "neft-neurons"). Ids are global (neuron_space.h), so a set
// made at one tp/pp layout is used at any other; the shape is what lets a set be checked
// against the model it is used with.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "neuron/local_scores.h"
#include "neuron/neuron_space.h"
#include "neuron/selection.h"

namespace neft::neuron {

inline constexpr const char* kNeuronSetFormat = "neft-neurons";

struct NeuronSet {
  std::vector<NeuronId> ids;  // ascending
  std::vector<float> scores;  // one per id
  // How it was made ("" where not applicable); a scores file has budget "all".
  std::string scorer, budget, scope;
  NeuronKinds kinds;  // ffn_gate included
  // The model shape it was made for.
  int64_t layers = 0, hidden = 0, intermediate = 0, heads = 0, kv_heads = 0, head_dim = 0;
  int64_t params = 0;  // the parameters of the set's neurons
};

// A set of `space`'s neurons (ids ascending, one score each) with the space's kinds and shape.
NeuronSet make_neuron_set(const NeuronSpace& space, std::vector<NeuronId> ids,
                          std::vector<float> scores, const std::string& scorer,
                          const std::string& budget, const std::string& scope);

// Atomic.
void save_neuron_set(const std::string& path, const NeuronSet& set);
// One-line errors naming the file: not a neuron file, missing or malformed tensors or
// metadata.
NeuronSet load_neuron_set(const std::string& path);

// The neuron space of `config` at tp x pp with the set's kinds, after checking the set
// against the model: its shape, every id (a neuron of the model and of the set's kinds,
// ascending, no duplicates), its parameter count, and that it selects something. `path`
// names the set in the messages.
NeuronSpace space_of(const NeuronSet& set, const model::LlamaConfig& config, int tp, int pp,
                     const std::string& path);

// Fails unless sets a (read from path_a) and b (path_b) were made for models of one shape,
// naming b's file and the first field that differs.
void check_same_model(const NeuronSet& a, const std::string& path_a, const NeuronSet& b,
                      const std::string& path_b);

// This rank's part of a scores file: a score for every neuron (tp_rank, pp_stage) owns; a
// one-line error naming the first one the file lacks.
LocalScores local_scores(const NeuronSet& all, const NeuronSpace& space, int tp_rank, int pp_stage,
                         const std::string& path);

// The whole set from every rank's part: each (tp rank, pp stage) passes its own ids and
// scores; tp rank 0 of pp stage 0 gets them all (ids ascending), the others an empty set.
// Collective over groups.tp and groups.pp.
std::pair<std::vector<NeuronId>, std::vector<float>> gather_to_first(
    const std::vector<NeuronId>& ids, const std::vector<float>& scores,
    const SelectionGroups& groups);

}  // namespace neft::neuron
