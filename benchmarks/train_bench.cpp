// neft_train_bench: how fast a full training step of a Llama preset runs, and what it holds.
//
// Builds the model with a seeded random initialisation and random token batches (every
// target counted), then times whole training steps the way `neft train` runs them
// (launch/train_step.h): zero the gradients, forward and backward per micro-batch with the
// loss scaled by 1 / counted tokens, the global gradient norm, the clipping factor, one AdamW
// step. Reports the median step time, tokens/s, FLOPs per token with the formula of
// benchmarks/pytorch_train_step.py (so the two programs' figures compare), the achieved
// rate against the device's peak (MFU), and the memory the step holds. The optimizer's
// settings are the PyTorch script's: lr 3e-4, betas (0.9, 0.95), eps 1e-8, weight decay 0.1
// on matrices, clipping to norm 1.0.
//
// Under mpirun (or srun) the ranks form a --tp x --pp x dp layout (parallel/process_groups.h)
// and run the same shared step over their groups. Rank 0 reports for the job: tokens/s of
// the global batch, a step's time as the slowest rank's, GFLOP/s and MFU per rank (the job's
// FLOPs over the world size, against one rank's share of the device), and the bytes each
// group (tp, pp, dp) sends per step per rank, the maximum over ranks.
#include <cblas.h>
#include <mpi.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_util.h"
#include "benchmarks/device_peak.h"
#include "data/batch.h"
#include "launch/parallel_job.h"
#include "launch/train_step.h"
#include "model/config.h"
#include "model/llama.h"
#include "optim/adamw.h"
#include "parallel/abort_job.h"
#include "parallel/environment.h"
#include "parallel/process_groups.h"
#include "runtime/cpu_threads.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/tensor.h"

namespace neft::bench {
namespace {

struct Options {
  std::string preset = "small-20m";
  int64_t batch = 8;  // sequences per micro-batch
  int64_t seq = 256;
  int64_t micro_batches = 1;  // per step per data-parallel rank
  int tp = 1, pp = 1;
  int64_t steps = 10;
  int64_t warmup = 2;
  Device device = Device::CPU;
  bool recompute = false;
  bool json = false;
  uint64_t seed = 0;
};

// The PyTorch script's optimizer settings (make_optimizer and clip_grad_norm_ there).
constexpr float kLr = 3e-4f;
constexpr float kClip = 1.0f;
const optim::AdamWConfig kAdamW{0.9f, 0.95f, 1e-8f, 0.1f};

// B rows of T + 1 uniform token ids; the inputs are the first T, the targets the last T,
// so every position counts towards the loss (as in the PyTorch script).
data::Batch random_batch(int64_t B, int64_t T, int64_t vocab, uint64_t seed) {
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
  parallel::Communicator* tp() const { return groups ? groups->tp.get() : nullptr; }
  parallel::Communicator* pp() const { return groups ? groups->pp.get() : nullptr; }
  parallel::Communicator* dp() const { return groups ? groups->dp.get() : nullptr; }
};

Job start_job(const Options& o) {
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

// The maximum over the job's ranks of each value, on every rank (as is without MPI).
std::vector<double> max_over_ranks(std::vector<double> v) {
  if (parallel::mpi_running())
    MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return v;
}

// Bytes this rank has sent so far through its tp, pp and dp groups (zeros without groups).
std::vector<double> bytes_sent(const Job& job) {
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
std::vector<data::Batch> step_batches(const Options& o, int64_t vocab, int64_t step, int dp_rank,
                                      int dp) {
  std::vector<data::Batch> micro;
  for (int64_t m = 0; m < o.micro_batches; ++m) {
    const int64_t index = (step * dp + dp_rank) * o.micro_batches + m;
    micro.push_back(random_batch(o.batch, o.seq, vocab, o.seed * 1000003 + uint64_t(index)));
  }
  return micro;
}

// The step `neft train` runs (launch/train_step.h), with the device drained so the timer
// sees all of it, the ranks lined up first so that each step's time starts together on all
// of them; returns the step's time (the slowest rank's, in ms) and its mean loss.
struct TimedStep {
  double ms = 0, loss = 0;
};
TimedStep timed_step(model::LlamaModel& m, optim::AdamW& opt,
                     const std::vector<data::Batch>& micro_batches, const Job& job) {
  if (job.groups) job.groups->world->barrier();
  const auto t0 = std::chrono::steady_clock::now();
  const double loss =
      launch::train_step(m, opt, micro_batches, kLr, kClip, {job.dp(), job.pp()}).loss;
  device_synchronize(m.options().device);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return {max_over_ranks({ms})[0], loss};
}

// Training FLOPs per token as benchmarks/pytorch_train_step.py counts them (PaLM appendix B):
// 6 x the weights that take part in matmuls (every projection and the LM head, tied or not;
// the embedding lookup is free) plus 12 x layers x seq x hidden for attention, over the full
// T x T matrix.
struct FlopCount {
  int64_t matmul_params = 0;
  int64_t per_token = 0;
};
FlopCount flops_per_token(const model::LlamaConfig& c, int64_t seq) {
  const int64_t attn = 2 * c.hidden * c.q_dim() + 2 * c.hidden * c.kv_dim();  // q, o; k, v
  const int64_t mlp = 3 * c.hidden * c.intermediate;                          // gate, up, down
  FlopCount f;
  f.matmul_params = c.layers * (attn + mlp) + c.vocab * c.hidden;
  f.per_token = 6 * f.matmul_params + 12 * c.layers * seq * c.hidden;
  return f;
}

struct MemoryReport {
  size_t parameters = 0, gradients = 0, optimizer = 0, activations = 0, peak = 0;
};
MemoryReport memory_report(model::LlamaModel& m, const optim::AdamW& opt) {
  MemoryReport r;
  for (const Parameter* p : m.parameters()) {
    r.parameters += p->value.nbytes();
    if (p->grad.defined()) r.gradients += p->grad.nbytes();
  }
  for (const auto& [name, t] : opt.state()) r.optimizer += t.nbytes();
  r.activations = m.activation_bytes();
  r.peak = memory_stats(m.options().device).peak;
  return r;
}

// A rank's share of the CPU's peak (on CUDA each rank has its own GPU): the cores it may run
// on, but no more than its share of the node's cores, for ranks the launcher did not bind to
// cores (each of them sees all the cores).
Peak rank_peak(Peak p, int ranks_on_node) {
  if (p.cpus <= 0 || ranks_on_node <= 1) return p;
  const int node_cpus = int(std::thread::hardware_concurrency());
  const int share = std::clamp(node_cpus / ranks_on_node, 1, p.cpus);
  if (share == p.cpus) return p;
  p.flops *= double(share) / p.cpus;
  p.flops_note = fmt("%.0f GFLOP/s, %d of the %d CPUs %d ranks share, of ", p.flops / 1e9, share,
                     node_cpus, ranks_on_node) +
                 p.flops_note;
  p.cpus = share;
  return p;
}

int64_t parse_count(const std::string& flag, const std::string& v, int64_t min) {
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < min || n > 1000000000)
    fail(flag, " must be an integer >= ", min, ", got '", v, "'");
  return n;
}

const char* kUsage =
    "usage: [mpirun -np N] neft_train_bench [--preset NAME] [--batch B] [--seq T]\n"
    "                        [--micro-batches K] [--tp N] [--pp M] [--steps N] [--warmup N]\n"
    "                        [--device cpu|cuda] [--recompute] [--seed S] [--json] [--help]\n"
    "  --preset     model preset (model/config.h) or HF config path (default small-20m)\n"
    "  --batch      sequences per micro-batch (default 8)\n"
    "  --seq        tokens per sequence (default 256)\n"
    "  --micro-batches\n"
    "               micro-batches per step per data-parallel rank (default 1); with --pp > 1\n"
    "               give at least pp of them, or the pipeline never fills\n"
    "  --tp         tensor-parallel ranks (default 1)\n"
    "  --pp         pipeline stages (default 1); under mpirun the remaining factor of the\n"
    "               world size is data parallelism: dp = world / (tp x pp)\n"
    "  --steps      timed steps; the median is reported (default 10)\n"
    "  --warmup     untimed steps first (default 2)\n"
    "  --device     where the model runs (default cpu); cpu runs f32, cuda bf16\n"
    "  --recompute  activation checkpointing per block\n"
    "  --seed       seed of the initialisation and the token batches (default 0)\n"
    "  --json       stdout: one JSON line (the per-step lines go to stderr)\n";

// Returns false after printing --help.
bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(arg, " needs a value (see --help)");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      if (parallel::world_rank_for_messages() == 0) std::printf("%s", kUsage);
      return false;
    } else if (arg == "--preset") {
      o.preset = value();
    } else if (arg == "--batch") {
      o.batch = parse_count(arg, value(), 1);
    } else if (arg == "--seq") {
      o.seq = parse_count(arg, value(), 1);
    } else if (arg == "--micro-batches") {
      o.micro_batches = parse_count(arg, value(), 1);
    } else if (arg == "--tp") {
      o.tp = int(parse_count(arg, value(), 1));
    } else if (arg == "--pp") {
      o.pp = int(parse_count(arg, value(), 1));
    } else if (arg == "--steps") {
      o.steps = parse_count(arg, value(), 1);
    } else if (arg == "--warmup") {
      o.warmup = parse_count(arg, value(), 0);
    } else if (arg == "--seed") {
      o.seed = uint64_t(parse_count(arg, value(), 0));
    } else if (arg == "--device") {
      o.device = parse_device(value());
    } else if (arg == "--recompute") {
      o.recompute = true;
    } else if (arg == "--json") {
      o.json = true;
    } else {
      fail("unknown argument '", arg, "' (see --help)");
    }
  }
  if (o.device == Device::CUDA && !cuda_available())
    fail("--device cuda: CUDA unavailable (", cuda_unavailable_reason(), ")");
  return true;
}

// Rounded for the JSON line, as the PyTorch script rounds its own.
double round_to(double x, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(x * scale) / scale;
}

std::string mib(size_t bytes) { return fmt("%.1f MiB", double(bytes) / (1 << 20)); }

// fprintf that prints nothing to a null stream: ranks other than 0 stay quiet.
[[gnu::format(printf, 2, 3)]] void say(FILE* f, const char* format, ...) {
  if (!f) return;
  va_list args;
  va_start(args, format);
  std::vfprintf(f, format, args);
  va_end(args);
}

int run(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) return 0;
  const bool cuda = o.device == Device::CUDA;
  const Job job = start_job(o);
  const parallel::Layout layout = job.layout();
  const bool multi_rank = job.world() > 1;
  // Per-step lines go to stderr under --json, so stdout holds the JSON line alone.
  FILE* log = job.rank() != 0 ? nullptr : o.json ? stderr : stdout;

  Peak peak;
#ifdef NEFT_WITH_CUDA
  if (cuda) peak = cuda_peak();
#endif
  if (!cuda)
    peak = rank_peak(cpu_peak(0), multi_rank ? parallel::process_environment().local_size : 1);

  const model::LlamaConfig config = model::resolve_config(o.preset);
  if (o.seq > config.max_positions)
    fail("--seq ", o.seq, " exceeds max_position_embeddings ", config.max_positions, " of ",
         config.name);
  model::ModelOptions mopts{o.device, cuda ? DType::BF16 : DType::F32, o.recompute};
  if (job.groups) {
    mopts.tp = {job.tp(), job.tp()->rank(), job.tp()->size()};
    mopts.pp_stage = job.groups->coords.pp;
    mopts.pp_stages = layout.pp;
  }
  model::LlamaModel m(config, mopts);
  m.init_random(o.seed);  // each rank's shard is its slice of the one-rank initialisation
  optim::AdamW opt(m.parameters(), kAdamW);
  // Each step sees new tokens.
  std::vector<std::vector<data::Batch>> batches;
  for (int64_t s = 0; s < o.warmup + o.steps; ++s)
    batches.push_back(step_batches(o, config.vocab, s, job.dp_rank(), layout.dp));

  const FlopCount flops = flops_per_token(config, o.seq);
  const int threads = cuda ? 0 : omp_get_max_threads();
  say(log,
      "neft_train_bench, preset %s: %.2fM parameters (%.2fM in matmuls), %s %s%s, "
      "batch %lld x seq %lld%s%s\n",
      config.name.c_str(), config.parameter_count() / 1e6, flops.matmul_params / 1e6,
      device_name(o.device), dtype_name(mopts.dtype), o.recompute ? ", recompute" : "",
      (long long)o.batch, (long long)o.seq,
      o.micro_batches > 1 ? fmt(" x %lld micro-batches", (long long)o.micro_batches).c_str() : "",
      multi_rank ? " per DP rank" : "");
  const int64_t tokens_per_step = o.batch * o.seq * o.micro_batches * layout.dp;
  if (multi_rank)
    say(log, "  layout: tp %d x pp %d x dp %d = %d ranks, %lld tokens per step\n", layout.tp,
        layout.pp, layout.dp, layout.world(), (long long)tokens_per_step);
  if (layout.pp > 1 && o.micro_batches < layout.pp)
    say(log, "  note: --micro-batches %lld < --pp %d: the pipeline never fills\n",
        (long long)o.micro_batches, layout.pp);
  if (!cuda)
    say(log, "  OpenMP threads %d; BLAS: %s, %d threads%s\n", threads, openblas_get_config(),
        openblas_get_num_threads(), multi_rank ? " (rank 0)" : "");
  say(log, "  peak compute%s: %s\n", multi_rank ? " per rank" : "", peak.flops_note.c_str());

  for (int64_t s = 0; s < o.warmup; ++s) timed_step(m, opt, batches[size_t(s)], job);
  const std::vector<double> bytes_before = bytes_sent(job);
  std::vector<double> step_ms;
  for (int64_t s = 0; s < o.steps; ++s) {
    const TimedStep t = timed_step(m, opt, batches[size_t(o.warmup + s)], job);
    step_ms.push_back(t.ms);
    say(log, "step %lld/%lld: %.1f ms, %.0f tokens/s, loss %.4f\n", (long long)(s + 1),
        (long long)o.steps, t.ms, double(tokens_per_step) / t.ms * 1e3, t.loss);
  }
  // Per step per rank in each group (tp, pp, dp), the most any rank sent.
  std::vector<double> comm_mib = bytes_sent(job);
  for (size_t g = 0; g < comm_mib.size(); ++g)
    comm_mib[g] = (comm_mib[g] - bytes_before[g]) / double(o.steps) / (1 << 20);
  comm_mib = max_over_ranks(comm_mib);

  const double median_ms = median(step_ms);
  std::vector<double> step_ms_rounded;
  for (double ms : step_ms) step_ms_rounded.push_back(round_to(ms, 3));
  const double tokens_per_s = double(tokens_per_step) / median_ms * 1e3;
  const double gflops = double(flops.per_token) * tokens_per_s / job.world() / 1e9;  // per rank
  const double mfu = gflops * 1e9 / peak.flops;
  const MemoryReport mem = memory_report(m, opt);
  const char* per_rank = multi_rank ? " per rank" : "";
  say(log,
      "median step %.1f ms, %.0f tokens/s, %.1f MFLOP/token, %.1f GFLOP/s%s, "
      "MFU %.1f%% of %.0f GFLOP/s%s\n",
      median_ms, tokens_per_s, flops.per_token / 1e6, gflops, per_rank, 100.0 * mfu,
      peak.flops / 1e9, per_rank);
  if (multi_rank)
    say(log,
        "communication per step per rank (the most any rank sent): tp %.3f MiB, "
        "pp %.3f MiB, dp %.3f MiB\n",
        comm_mib[0], comm_mib[1], comm_mib[2]);
  say(log,
      "memory%s: parameters %s, gradients %s, optimizer state %s, activations %s, "
      "peak allocated %s\n",
      multi_rank ? " (rank 0)" : "", mib(mem.parameters).c_str(), mib(mem.gradients).c_str(),
      mib(mem.optimizer).c_str(), mib(mem.activations).c_str(), mib(mem.peak).c_str());

  if (o.json && job.rank() == 0) {
    const nlohmann::json j = {
        {"framework", "neft"},
        {"preset", config.name},
        {"tokens_per_s", round_to(tokens_per_s, 1)},
        {"step_ms_median", round_to(median_ms, 3)},
        {"step_ms", step_ms_rounded},
        {"flops_per_token", flops.per_token},
        {"gflops", round_to(gflops, 2)},  // per rank
        {"mfu", mfu},
        {"peak_gflops", round_to(peak.flops / 1e9, 1)},  // per rank
        {"device", device_name(o.device)},
        {"dtype", dtype_name(mopts.dtype)},
        {"recompute", o.recompute},
        {"batch", o.batch},
        {"seq", o.seq},
        {"micro_batches", o.micro_batches},
        {"tokens_per_step", tokens_per_step},
        {"tp", layout.tp},
        {"pp", layout.pp},
        {"dp", layout.dp},
        {"world", layout.world()},
        {"comm_mib_per_step", {{"tp", comm_mib[0]}, {"pp", comm_mib[1]}, {"dp", comm_mib[2]}}},
        {"threads", threads},
        {"steps", o.steps},
        {"parameters", config.parameter_count()},
        {"memory_bytes",
         {{"parameters", mem.parameters},
          {"gradients", mem.gradients},
          {"optimizer_state", mem.optimizer},
          {"activations", mem.activations},
          {"peak_allocated", mem.peak}}},
    };
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;
}

}  // namespace
}  // namespace neft::bench

int main(int argc, char** argv) {
  neft::ensure_passive_openmp_wait(argv);
  std::optional<neft::parallel::MpiSession> mpi;
  try {
    // MPI only for a rank a launcher started (as `neft` does): a plain run stays one process.
    if (neft::launch::started_by_mpi_launcher()) mpi.emplace(&argc, &argv);
    return neft::bench::run(argc, argv);
  } catch (const std::exception& e) {
    const std::string message = std::string("neft_train_bench: ") + e.what();
    // One failing rank ends the job; the others would wait in their next collective.
    if (neft::launch::running_world_size() > 1) neft::parallel::abort_job(message);
    std::fprintf(stderr, "%s\n", message.c_str());
    return 1;
  }
}
