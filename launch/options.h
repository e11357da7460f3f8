// The options of `neft train`, `neft eval` and `neft merge`: the structs the subcommands run from
// (TrainOptions is the engine's: train/train_options.h), their declarations (names, defaults, help,
// value checks) and the checks that involve several options. Parsing and the --help page come from
// launch/command_options.h.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "launch/command_options.h"
#include "train/train_options.h"

namespace neft::launch {

using train::device_named;
using train::ParallelOptions;
using train::resolve_dtype;
using train::tasks_or_all;
using train::TrainOptions;

struct EvalOptions {
  // model
  std::string model;  // directory with config.json + weights, or a preset with --init
  std::string init;
  std::string device = "cpu";
  std::string dtype = "auto";
  // data
  std::string data = "synthetic";  // synthetic | sft:FILE.jsonl
  std::string tasks;               // "" = every task of the suite
  int64_t seq_len = 64;
  int64_t examples = 256;      // per task
  std::string split = "eval";  // eval | validation
  uint64_t seed = 1234;
  // evaluation
  int64_t micro_batch = 32;
  ParallelOptions parallelism;  // tp, pp (forward-only pipeline) and the backend
  // output
  bool json = false;        // one JSON line instead of a table
  std::string dump_logits;  // "" = off; else a safetensors file (tokens, positions, logits)
  std::string delta;        // "" = none; else a sparse delta applied to the model first
  std::string deactivate;   // "" = none; else a neuron set whose outputs are zeroed

  Device compute_device() const;
  DType compute_dtype() const;
  std::vector<std::string> task_list() const;
};

// `neft merge`: a base model plus the sparse delta of a neuron-level run (neuron/delta.h),
// written as an HF directory.
struct MergeOptions {
  std::string base;      // HF model directory, or a preset (randomly initialised from seed)
  uint64_t seed = 1234;  // the preset's initialisation, as `neft train --seed` made it
  std::string delta;     // the delta file ("" = none)
  std::string adapter;   // a PEFT LoRA adapter directory ("" = none, or the base's own)
  std::string out;       // the merged model's directory
};

// Parse the arguments after `neft train` / `neft eval` / `neft merge` (a config file and
// overrides), check the values, and return the options; std::nullopt after printing the help
// page to `out` for --help. A mistake throws neft::Error naming the option.
std::optional<TrainOptions> parse_train_options(const std::vector<std::string>& args,
                                                std::ostream& out);
std::optional<EvalOptions> parse_eval_options(const std::vector<std::string>& args,
                                              std::ostream& out);
std::optional<MergeOptions> parse_merge_options(const std::vector<std::string>& args,
                                                std::ostream& out);

// The options as a config file that `--config` reads back to the same values (to record
// what a run was started with, e.g. in its output directory).
std::string train_config_text(const TrainOptions& options);
std::string eval_config_text(const EvalOptions& options);

// The option tables bound to the fields of `options`; the --help pages come from these.
std::unique_ptr<CommandOptions> train_command_options(TrainOptions& options);
std::unique_ptr<CommandOptions> eval_command_options(EvalOptions& options);
std::unique_ptr<CommandOptions> merge_command_options(MergeOptions& options);

// Pieces the subcommands' option tables share.
// What `neft eval` and `neft analyze deactivate` share: --model and its options, the held-out
// data, --micro-batch and --tp; and their checks.
void add_eval_options(CommandOptions& table, EvalOptions& options);
void check_eval(const CommandOptions& table, EvalOptions& options);
// --init, --device, --dtype (after --model, whose meaning differs between commands).
void add_model_options(CommandOptions& table, std::string* init, std::string* device,
                       std::string* dtype);
// --packing on|off: how sft and synthetic examples fill the rows.
void add_packing_option(CommandOptions& table, std::string* packing);
// --tp, --pp (with `pipeline`), --comm-backend and --comm-timeout.
void add_parallel_options(CommandOptions& table, ParallelOptions* p, bool pipeline);
// Checks made after parsing because they involve several options or the build.
void check_device_and_dtype(const CommandOptions& table, const std::string& device,
                            const std::string& dtype);
// A timeout not given takes NEFT_COMM_TIMEOUT (which the parallel layer reads too); the
// backend must fit the device.
void check_parallel(const CommandOptions& table, ParallelOptions& p, const std::string& device);
void check_tasks(const CommandOptions& table, const std::string& tasks);

// The options of `neft train` (but --neurons), for commands that train too (`neft finetune`),
// and its checks; neuron_level: the command trains a neuron set (`neft finetune`), which
// picks the recipe (launch/recipe.h) as --neurons does.
void add_train_options(CommandOptions& table, TrainOptions& options);
// --lora-rank, --lora-alpha, --lora-targets, --lora-dropout, and their checks (after
// check_train): --lora-rank with --neurons, a LoRA option without --lora-rank or an unknown
// target are refused; alpha 0 becomes the rank.
void add_lora_options(CommandOptions& table, TrainOptions& options);
void check_lora(const CommandOptions& table, TrainOptions& options);
void check_train(const CommandOptions& table, TrainOptions& options, bool neuron_level = false);

}  // namespace neft::launch
