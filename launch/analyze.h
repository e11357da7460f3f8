// `neft analyze`: what the task-specific-neurons paper measures about neuron sets.
//   neft analyze deactivate  zero a set's neurons and evaluate, against random sets of the
//                            same size and kind distribution (loss and accuracy, mean ± sd)
//   neft analyze overlap     intersection over union of neuron sets, overall and per layer,
//                            as tables and a PNG
#pragma once
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "launch/options.h"

namespace neft::launch {

struct DeactivateOptions {
  EvalOptions eval;                   // the model, the held-out data, --micro-batch, --tp
  std::string neurons;                // the neuron set to zero
  int64_t random_sets = 5;            // random sets of the same size to compare with
  std::string random_match = "kind";  // kind | layer: what each random set matches
  uint64_t random_seed = 1;           // the random sets' draws
  std::string out;                    // every evaluation as JSONL; "" = none
};

struct OverlapOptions {
  std::vector<std::string> sets;  // FILE or LABEL=FILE, in table order
  std::string png;                // the picture; "" = none (its data go to the .tsv beside it)
  std::string out;                // the overlaps as JSONL; "" = none
};

std::optional<DeactivateOptions> parse_deactivate_options(const std::vector<std::string>& args,
                                                          std::ostream& out);
std::optional<OverlapOptions> parse_overlap_options(const std::vector<std::string>& args,
                                                    std::ostream& out);
int run_deactivate(const DeactivateOptions& options);
int run_overlap(const OverlapOptions& options);

// `neft analyze <analysis> ...`: dispatches; --help lists the analyses.
int run_analyze(const std::vector<std::string>& args, std::ostream& out);

}  // namespace neft::launch
