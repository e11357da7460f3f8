// The options of the neuron-level commands: `neft score` (score every neuron of the chosen
// kinds), `neft select` (a budget of them from a scores file) and `neft finetune` (the whole
// method: probe, score, select, train only the selected neurons, evaluate, export the delta).
// `neft train --neurons FILE` is the training step alone (launch/options.h).
#pragma once
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "launch/options.h"
#include "train/scoring.h"

namespace neft::launch {

using train::ScoreSpec;

// How many and which (neuron/selection.h).
struct SelectSpec {
  std::string budget = "5%params";  // N | P% | P%params | lora:R
  std::string scope = "global";     // global | per-layer | balanced
};

struct ScoreOptions {
  // model and data, as `neft train` takes them
  std::string model = "tiny";
  std::string init;
  std::string device = "cpu";
  std::string dtype = "auto";
  std::string data = "synthetic";
  std::string tasks;
  int64_t seq_len = 64;
  std::string packing = "on";  // on | off
  int64_t micro_batch = 16;
  uint64_t seed = 1234;
  ParallelOptions parallelism;
  ScoreSpec score;
  std::string out = "scores.safetensors";
};

struct SelectOptions {
  std::string scores;  // a scores file from `neft score`
  std::string model;   // the model it was scored on (preset or HF directory): its shape
  SelectSpec select;
  ParallelOptions parallelism;  // tp and pp: the selection runs as the training will
  std::string out = "neurons.safetensors";
};

struct FinetuneOptions {
  TrainOptions train;  // --out holds scores.safetensors, neurons.safetensors and the run
  ScoreSpec score;
  SelectSpec select;
};

// The options of `neft finetune` (every `neft train` option but --neurons, the scoring and the
// selection), for commands built on it (`neft continual`), and their checks.
void add_finetune_options(CommandOptions& table, FinetuneOptions& options);
void check_finetune(const CommandOptions& table, FinetuneOptions& options);

std::optional<ScoreOptions> parse_score_options(const std::vector<std::string>& args,
                                                std::ostream& out);
std::optional<SelectOptions> parse_select_options(const std::vector<std::string>& args,
                                                  std::ostream& out);
std::optional<FinetuneOptions> parse_finetune_options(const std::vector<std::string>& args,
                                                      std::ostream& out);

}  // namespace neft::launch
