// The options of `neft train`, `neft eval` and `neft merge`: the structs the subcommands run from,
// their declarations (names, defaults, help, value checks) and the checks that involve several
// options. Parsing and the --help page come from launch/command_options.h.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "launch/command_options.h"
#include "parallel/communicator.h"
#include "runtime/device.h"
#include "runtime/dtype.h"

namespace neft::launch {

// How a command spreads over the ranks of an mpirun / srun job (launch/parallel_job.h): tp
// ranks hold the shards of one model replica, pp stages split its layers, and the rest of
// the world, dp = world / (tp * pp), are data-parallel replicas.
struct ParallelOptions {
  int64_t tp = 1;
  int64_t pp = 1;
  std::string comm_backend = "auto";                           // auto | mpi | nccl
  double comm_timeout = parallel::kDefaultCommTimeoutSeconds;  // seconds per collective

  // "auto" is nccl with --device cuda and mpi on the cpu.
  parallel::Backend backend(const std::string& device) const;
};

struct TrainOptions {
  // model
  std::string model = "tiny";  // preset name or HF model directory
  std::string init;            // HF checkpoint directory to load weights from ("" = none)
  std::string device = "cpu";  // cpu | cuda
  std::string dtype = "auto";  // auto | f32 | bf16
  // data
  std::string data = "synthetic";
  std::string tasks;  // "" = every task of the suite
  int64_t seq_len = 64;
  // training
  int64_t micro_batch = 16;
  int64_t grad_accum = 1;
  int64_t steps = 1000;
  uint64_t seed = 1234;
  bool recompute = false;
  int64_t stop_after = 0;  // 0 = off; else stop after this many steps of this invocation
  // parallelism: micro_batch is per data-parallel rank; a step trains on
  // micro_batch * grad_accum * dp sequences
  ParallelOptions parallelism;
  // optimizer
  double lr = 3e-3;
  double min_lr = 3e-4;
  int64_t warmup = 50;
  std::string lr_schedule = "cosine";  // cosine | linear | constant
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double clip = 1.0;  // 0 = off
  // evaluation
  int64_t eval_every = 0;  // 0 = off
  int64_t eval_examples = 256;
  std::string eval_split = "eval";  // eval (reported) | validation (for choosing settings)
  // checkpointing
  int64_t save_every = 0;  // 0 = only at the end
  int64_t keep_checkpoints = 2;
  bool resume = false;
  // output
  std::string out = "runs/train";
  std::string metrics;  // "" = <out>/metrics.jsonl
  int64_t log_every = 10;
  // neuron-level training
  std::string neurons;  // "" = every weight trains; else a neuron-set file

  Device compute_device() const;
  DType compute_dtype() const;                 // dtype with "auto" resolved for the device
  std::string metrics_path() const;            // metrics, or <out>/metrics.jsonl
  std::vector<std::string> task_list() const;  // tasks split at commas; empty = all
};

struct EvalOptions {
  // model
  std::string model;  // directory with config.json + weights, or a preset with --init
  std::string init;
  std::string device = "cpu";
  std::string dtype = "auto";
  // data
  std::string tasks;  // "" = every task of the suite
  int64_t seq_len = 64;
  int64_t examples = 256;      // per task
  std::string split = "eval";  // eval | validation
  uint64_t seed = 1234;
  // evaluation
  int64_t micro_batch = 32;
  ParallelOptions parallelism;  // tp and the backend (pp stays 1)
  // output
  bool json = false;        // one JSON line instead of a table
  std::string dump_logits;  // "" = off; else a safetensors file (tokens, positions, logits)
  std::string delta;        // "" = none; else a sparse delta applied to the model first

  Device compute_device() const;
  DType compute_dtype() const;
  std::vector<std::string> task_list() const;
};

// `neft merge`: a base model plus the sparse delta of a neuron-level run (neuron/delta.h),
// written as an HF directory.
struct MergeOptions {
  std::string base;      // HF model directory, or a preset (randomly initialised from seed)
  uint64_t seed = 1234;  // the preset's initialisation, as `neft train --seed` made it
  std::string delta;     // the delta file
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
// --init, --device, --dtype (after --model, whose meaning differs between commands).
void add_model_options(CommandOptions& table, std::string* init, std::string* device,
                       std::string* dtype);
// --tp, --pp (with `pipeline`), --comm-backend and --comm-timeout.
void add_parallel_options(CommandOptions& table, ParallelOptions* p, bool pipeline);
// Checks made after parsing because they involve several options or the build.
void check_device_and_dtype(const CommandOptions& table, const std::string& device,
                            const std::string& dtype);
// A timeout not given takes NEFT_COMM_TIMEOUT (which the parallel layer reads too); the
// backend must fit the device.
void check_parallel(const CommandOptions& table, ParallelOptions& p, const std::string& device);
void check_tasks(const CommandOptions& table, const std::string& tasks);
// --device as the runtime's Device (the value is one of cpu, cuda once parsed).
Device device_named(const std::string& device);

// The options of `neft train` (but --neurons), for commands that train too (`neft finetune`),
// and its checks.
void add_train_options(CommandOptions& table, TrainOptions& options);
void check_train(const CommandOptions& table, TrainOptions& options);

// "auto" is f32 on the CPU (the reference numerics) and bf16 on CUDA.
DType resolve_dtype(const std::string& dtype, const std::string& device);

}  // namespace neft::launch
