// neft_train_bench: how fast a full training step of a Llama preset runs, and what it holds.
//
// Builds the model with a seeded random initialisation and random token batches (every
// target counted), then times whole training steps the way `neft train` runs them
// (train/train_step.h): zero the gradients, forward and backward per micro-batch with the
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
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_util.h"
#include "benchmarks/device_peak.h"
#include "benchmarks/step_bench.h"
#include "data/batch.h"
#include "model/config.h"
#include "model/llama.h"
#include "optim/adamw.h"
#include "parallel/environment.h"
#include "runtime/device.h"
#include "runtime/error.h"

namespace neft::bench {
namespace {

struct Options : StepOptions {
  int64_t steps = 10;
  int64_t warmup = 2;
};

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

// Returns false after printing --help.
bool parse(int argc, char** argv, Options& o) {
  const std::string usage =
      "usage: [mpirun -np N] neft_train_bench [--preset NAME] [--batch B] [--seq T]\n"
      "                        [--micro-batches K] [--tp N] [--pp M] [--steps N] [--warmup N]\n"
      "                        [--device cpu|cuda] [--dtype D] [--recompute] [--seed S]\n"
      "                        [--json] [--help]\n" +
      step_usage(Options{}) +
      "  --steps      timed steps; the median is reported (default 10)\n"
      "  --warmup     untimed steps first (default 2)\n";
  return parse_step_args(argc, argv, usage, o,
                         [&](const std::string& arg, const OptionValue& value) {
                           if (arg == "--steps")
                             o.steps = parse_count(arg, value(), 1);
                           else if (arg == "--warmup")
                             o.warmup = parse_count(arg, value(), 0);
                           else
                             return false;
                           return true;
                         });
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

  const model::LlamaConfig config = step_config(o);
  const model::ModelOptions mopts = step_model_options(o, job);
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
  return neft::bench::step_bench_main(argc, argv, "neft_train_bench", neft::bench::run);
}
