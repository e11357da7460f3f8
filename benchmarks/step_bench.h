// What the training-step benchmarks (neft_train_bench, neft_neuron_bench) share: their common
// options, random token batches, the rank's place in a --tp x --pp x dp job, one timed
// `neft train` step, and main() with its MPI session and one-line errors. Header-only, as
// bench_util.h is; kept apart from it because it needs the model, the launcher and MPI,
// which neft_op_bench does not link.
#pragma once
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "benchmarks/bench_util.h"
#include "data/batch.h"
#include "launch/options.h"
#include "model/config.h"
#include "model/llama.h"
#include "optim/adamw.h"
#include "parallel/abort_job.h"
#include "parallel/environment.h"
#include "parallel/process_groups.h"
#include "runtime/cpu_threads.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "train/parallel_job.h"
#include "train/train_step.h"

namespace neft::bench {

// The PyTorch script's optimizer settings (make_optimizer and clip_grad_norm_ in
// benchmarks/pytorch_train_step.py).
constexpr float kLr = 3e-4f;
constexpr float kClip = 1.0f;
inline const optim::AdamWConfig kAdamW{0.9f, 0.95f, 1e-8f, 0.1f};

// The options both programs take (parse_step_option); each adds its own.
struct StepOptions {
  std::string preset = "small-20m";
  int64_t batch = 8;  // sequences per micro-batch
  int64_t seq = 256;
  int64_t micro_batches = 1;  // per step per data-parallel rank
  int tp = 1, pp = 1;
  Device device = Device::CPU;
  std::string dtype = "auto";  // auto: f32 on cpu, bf16 on cuda
  bool recompute = false;
  bool json = false;
  uint64_t seed = 0;

  DType compute_dtype() const {
    return train::resolve_dtype(dtype, device == Device::CUDA ? "cuda" : "cpu");
  }
};

// The usage lines of the shared options, with the program's defaults, for its --help.
inline std::string step_usage(const StepOptions& d) {
  return fmt(
      "  --preset     model preset (model/config.h) or HF config path (default %s)\n"
      "  --batch      sequences per micro-batch (default %lld)\n"
      "  --seq        tokens per sequence (default %lld)\n"
      "  --micro-batches\n"
      "               micro-batches per step per data-parallel rank (default 1); with\n"
      "               --pp > 1 give at least pp of them, or the pipeline never fills\n"
      "  --tp         tensor-parallel ranks (default 1)\n"
      "  --pp         pipeline stages (default 1); under mpirun the remaining factor of\n"
      "               the world size is data parallelism: dp = world / (tp x pp)\n"
      "  --device     cpu|cuda, where the model runs (default cpu)\n"
      "  --dtype      auto|f32|bf16 (default auto: f32 on cpu, bf16 on cuda)\n"
      "  --recompute  activation checkpointing per block\n"
      "  --seed       seed of the initialisation and the token batches (default 0)\n"
      "  --json       stdout: the JSON output alone (the progress lines go to stderr)\n",
      d.preset.c_str(), (long long)d.batch, (long long)d.seq);
}

// An option's value: the next argument (a one-line error when there is none).
using OptionValue = std::function<std::string()>;

// Takes `arg` when it is a shared option; false when it is not one of them.
inline bool parse_step_option(const std::string& arg, const OptionValue& value, StepOptions& o) {
  if (arg == "--preset")
    o.preset = value();
  else if (arg == "--batch")
    o.batch = parse_count(arg, value(), 1);
  else if (arg == "--seq")
    o.seq = parse_count(arg, value(), 1);
  else if (arg == "--micro-batches")
    o.micro_batches = parse_count(arg, value(), 1);
  else if (arg == "--tp")
    o.tp = int(parse_count(arg, value(), 1));
  else if (arg == "--pp")
    o.pp = int(parse_count(arg, value(), 1));
  else if (arg == "--seed")
    o.seed = uint64_t(parse_count(arg, value(), 0));
  else if (arg == "--device")
    o.device = parse_device(value());
  else if (arg == "--dtype")
    o.dtype = value();
  else if (arg == "--recompute")
    o.recompute = true;
  else if (arg == "--json")
    o.json = true;
  else
    return false;
  return true;
}

// What the shared options cannot be, once all are read.
inline void check_step_options(const StepOptions& o) {
  if (o.device == Device::CUDA && !cuda_available())
    fail("--device cuda: CUDA unavailable (", cuda_unavailable_reason(), ")");
  if (o.dtype != "auto" && o.dtype != "f32" && o.dtype != "bf16")
    fail("--dtype must be auto, f32 or bf16, got '", o.dtype, "'");
  if (o.device == Device::CPU && o.dtype == "bf16")
    fail("--dtype bf16: the cpu backend runs f32 (bf16 needs --device cuda)");
}

// Reads the command line: the shared options, and the program's own through `own` (true
// when it took `arg`); checks them. False after printing `usage` for --help.
inline bool parse_step_args(
    int argc, char** argv, const std::string& usage, StepOptions& o,
    const std::function<bool(const std::string& arg, const OptionValue& value)>& own) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const OptionValue value = [&]() -> std::string {
      if (i + 1 >= argc) fail(arg, " needs a value (see --help)");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      if (parallel::world_rank_for_messages() == 0) std::printf("%s", usage.c_str());
      return false;
    }
    if (!parse_step_option(arg, value, o) && !own(arg, value))
      fail("unknown argument '", arg, "' (see --help)");
  }
  check_step_options(o);
  return true;
}

// The preset, with the sequence length checked against it.
inline model::LlamaConfig step_config(const StepOptions& o) {
  const model::LlamaConfig config = model::resolve_config(o.preset);
  if (o.seq > config.max_positions)
    fail("--seq ", o.seq, " exceeds max_position_embeddings ", config.max_positions, " of ",
         config.name);
  return config;
}

// B rows of T + 1 uniform token ids; the inputs are the first T, the targets the last T,
// so every position counts towards the loss (as in the PyTorch script).
inline data::Batch random_batch(int64_t B, int64_t T, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, int32_t(vocab - 1));
  data::Batch b;
  b.B = B;
  b.T = T;
  for (int64_t r = 0; r < B; ++r) {
    std::vector<int32_t> row(size_t(T + 1));
    for (int32_t& t : row) t = id(rng);
    b.tokens.insert(b.tokens.end(), row.begin(), row.end() - 1);
    b.targets.insert(b.targets.end(), row.begin() + 1, row.end());
    for (int64_t t = 0; t < T; ++t) b.positions.push_back(int32_t(t));
  }
  b.task.assign(size_t(B), -1);
  return b;
}

// Where this rank sits: the process groups of the --tp x --pp layout when MPI runs (a
// launcher started the program), none in a plain one-process run.
struct Job {
  std::optional<parallel::ProcessGroups> groups;

  int rank() const { return groups ? groups->rank : 0; }
  parallel::Layout layout() const { return groups ? groups->layout : parallel::Layout{}; }
  int world() const { return layout().world(); }
  int dp_rank() const { return groups ? groups->coords.dp : 0; }
  int tp_rank() const { return groups ? groups->coords.tp : 0; }
  int pp_stage() const { return groups ? groups->coords.pp : 0; }
  parallel::Communicator* tp() const { return groups ? groups->tp.get() : nullptr; }
  parallel::Communicator* pp() const { return groups ? groups->pp.get() : nullptr; }
  parallel::Communicator* dp() const { return groups ? groups->dp.get() : nullptr; }
};

inline Job start_job(const StepOptions& o) {
  Job job;
  if (parallel::mpi_running()) {
    const bool cuda = o.device == Device::CUDA;
    if (cuda) parallel::select_device_for_local_rank();
    job.groups.emplace(parallel::make_process_groups(
        o.tp, o.pp, cuda ? parallel::Backend::NCCL : parallel::Backend::MPI));
  } else if (o.tp * o.pp > 1) {
    fail("--tp ", o.tp, " x --pp ", o.pp, " needs ", o.tp * o.pp,
         " ranks (or a multiple) and this is one process: run it under mpirun -np ", o.tp * o.pp);
  }
  return job;
}

// The model's options on this rank: device, dtype, recompute, and its tp shard and pipeline
// stage when the job has groups.
inline model::ModelOptions step_model_options(const StepOptions& o, const Job& job) {
  model::ModelOptions m{o.device, o.compute_dtype(), o.recompute};
  if (job.groups) {
    m.tp = {job.tp(), job.tp()->rank(), job.tp()->size()};
    m.pp_stage = job.groups->coords.pp;
    m.pp_stages = job.layout().pp;
  }
  return m;
}

// The maximum over the job's ranks of each value, on every rank (as is without MPI).
inline std::vector<double> max_over_ranks(std::vector<double> v) {
  if (parallel::mpi_running())
    MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return v;
}

// Bytes this rank has sent so far through its tp, pp and dp groups (zeros without groups).
inline std::vector<double> bytes_sent(const Job& job) {
  std::vector<double> b;
  for (const parallel::Communicator* g : {job.tp(), job.pp(), job.dp()})
    b.push_back(g ? double(g->bytes_sent()) : 0.0);
  return b;
}

// The micro-batches of step `step` on data-parallel rank `dp_rank` of `dp`: every step and
// every DP rank gets its own tokens; the TP ranks and pipeline stages of one model replica
// get the same ones. dp ranks of K micro-batches draw, between them, what one rank with
// dp x K draws (so their losses compare), and one rank with one micro-batch draws the seeds
// it always did.
inline std::vector<data::Batch> step_batches(const StepOptions& o, int64_t vocab, int64_t step,
                                             int dp_rank, int dp) {
  std::vector<data::Batch> micro;
  for (int64_t m = 0; m < o.micro_batches; ++m) {
    const int64_t index = (step * dp + dp_rank) * o.micro_batches + m;
    micro.push_back(random_batch(o.batch, o.seq, vocab, o.seed * 1000003 + uint64_t(index)));
  }
  return micro;
}

// The step `neft train` runs (train/train_step.h), with the device drained so the timer
// sees all of it, the ranks lined up first so that each step's time starts together on all
// of them; returns the step's time (the slowest rank's, in ms) and its mean loss.
struct TimedStep {
  double ms = 0, loss = 0;
};
inline TimedStep timed_step(model::LlamaModel& m, optim::AdamW& opt,
                            const std::vector<data::Batch>& micro_batches, const Job& job) {
  if (job.groups) job.groups->world->barrier();
  const auto t0 = std::chrono::steady_clock::now();
  const double loss =
      train::train_step(m, opt, micro_batches, kLr, kClip, {job.dp(), job.pp()}).loss;
  device_synchronize(m.options().device);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return {max_over_ranks({ms})[0], loss};
}

// main() of a step benchmark: MPI only for a rank a launcher started (as `neft` does; a
// plain run stays one process), and any error as one line "<program>: what", which also
// ends the other ranks of a job (they would wait in their next collective).
inline int step_bench_main(int argc, char** argv, const char* program, int (*run)(int, char**)) {
  ensure_passive_openmp_wait(argv);
  std::optional<parallel::MpiSession> mpi;
  try {
    if (train::started_by_mpi_launcher()) mpi.emplace(&argc, &argv);
    return run(argc, argv);
  } catch (const std::exception& e) {
    const std::string message = std::string(program) + ": " + e.what();
    if (train::running_world_size() > 1) parallel::abort_job(message);
    std::fprintf(stderr, "%s\n", message.c_str());
    return 1;
  }
}

}  // namespace neft::bench
