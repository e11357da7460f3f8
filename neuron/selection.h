// Selection: from every rank's scores to every rank's selected neurons, under a budget and a
// scope, without any rank seeing another's scores (DESIGN.md §2).
//
// All neurons are ordered by (score descending, global id ascending): a strict total order,
// so ties break the same way at every layout. A budget becomes an allowance, a number of
// neurons or of parameters, and a selection is the longest prefix of that order (within the
// scope's part of the model) that the allowance holds. Kinds may differ in parameters per
// neuron, which is why a parameter budget is a prefix and not a count.
//
// Scopes:
//   global     one ranking over every layer and kind (the NeFT paper). The prefix's end is
//              found by searching the order's keys with small all-reduces of (count,
//              parameters) sums over tp then pp; scores never move.
//   per-layer  each layer gets the share of the allowance proportional to its parameters
//              and the same ranking within it; a layer lives on one stage, so the search
//              for all of a stage's layers runs at once over tp alone.
//   balanced   each (tp rank, pp stage) gets the share proportional to the parameters it
//              owns and takes its own top by a local sort: no collective but the totals.
// Data-parallel replicas hold identical scores and compute the same selection, so they
// never communicate here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "neuron/local_scores.h"
#include "neuron/neuron_space.h"
#include "parallel/communicator.h"

namespace neft::neuron {

struct Budget {
  enum class Unit {
    Neurons,         // "1000": that many neurons
    NeuronFraction,  // "5%": of the space's neurons (value 0.05)
    ParamFraction,   // "5%params": of the model's parameter count (value 0.05), as NeFT states
                     // budgets
    LoraRank,        // "lora:8": the parameters LoRA of that rank trains on the kinds' matrices
  };
  Unit unit = Unit::NeuronFraction;
  double value = 0;  // a count, a fraction in [0, 1], or a rank

  // One-line errors naming the text: malformed, negative, a fraction above 100%.
  static Budget parse(const std::string& text);
  std::string str() const;  // as parse takes it
};

enum class Scope { Global, PerLayer, Balanced };
Scope scope_from_name(const std::string& name);  // "global", "per-layer", "balanced"
const char* scope_name(Scope scope);

// The groups a selection talks over: null or of size 1 = none. A rank's tp and pp
// coordinates are its ranks in these groups.
struct SelectionGroups {
  parallel::Communicator* tp = nullptr;
  parallel::Communicator* pp = nullptr;
};

struct Selection {
  std::vector<NeuronId> ids;                    // this rank's selected neurons, ascending
  std::vector<float> scores;                    // one per id
  int64_t total_neurons = 0, total_params = 0;  // selected, over all ranks
  double score_retained = 0;  // the sum of the selected neurons' scores, over all ranks
  double score_global = 0;    // what a global selection of the same budget retains
};

// Fails as select_neurons would for a budget above what the space holds or one too small
// for even the cheapest neuron: a check to make before any scoring is spent or any file
// written. (A per-layer or balanced scope can still end with nothing; select_neurons says so.)
void check_budget(const NeuronSpace& space, const Budget& budget);

// Collective over groups.tp and groups.pp. `mine` must be this rank's owned neurons
// (space.owned(tp rank, pp stage)). One-line errors: a budget above what the space holds, a
// budget that selects no neuron, a NaN score.
Selection select_neurons(const NeuronSpace& space, const LocalScores& mine, const Budget& budget,
                         Scope scope, const SelectionGroups& groups);

}  // namespace neft::neuron
