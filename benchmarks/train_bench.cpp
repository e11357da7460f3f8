// neft_train_bench: how fast a full training step of a Llama preset runs, and what it holds.
//
// Builds the model with a seeded random initialisation and random token batches (every
// target counted), then times whole training steps the way `neft train` runs them
// (launch/train.cpp): zero the gradients, forward and backward per micro-batch with the loss
// scaled by 1 / counted tokens, the global gradient norm, the clipping factor, one AdamW
// step. Reports the median step time, tokens/s, FLOPs per token with the formula of
// benchmarks/pytorch_train_step.py (so the two programs' figures compare), the achieved
// rate against the device's peak (MFU), and the memory the step holds. The optimizer's
// settings are the PyTorch script's: lr 3e-4, betas (0.9, 0.95), eps 1e-8, weight decay 0.1
// on matrices, clipping to norm 1.0.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_util.h"
#include "benchmarks/device_peak.h"
#include "data/batch.h"
#include "launch/train_step.h"
#include "model/config.h"
#include "model/llama.h"
#include "optim/adamw.h"
#include "runtime/cpu_threads.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/tensor.h"

namespace neft::bench {
namespace {

struct Options {
  std::string preset = "small-20m";
  int64_t batch = 8;
  int64_t seq = 256;
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

// The step `neft train` runs (launch/train_step.h), with the device drained so the timer
// sees all of it; returns the mean loss.
double timed_step(model::LlamaModel& m, optim::AdamW& opt, const data::Batch& b) {
  const double loss = launch::train_step(m, opt, {b}, kLr, kClip).loss;
  device_synchronize(m.options().device);
  return loss;
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

int64_t parse_count(const std::string& flag, const std::string& v, int64_t min) {
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < min || n > 1000000000)
    fail(flag, " must be an integer >= ", min, ", got '", v, "'");
  return n;
}

const char* kUsage =
    "usage: neft_train_bench [--preset NAME] [--batch B] [--seq T] [--steps N] [--warmup N]\n"
    "                        [--device cpu|cuda] [--recompute] [--seed S] [--json] [--help]\n"
    "  --preset     model preset (model/config.h) or HF config path (default small-20m)\n"
    "  --batch      sequences per step (default 8)\n"
    "  --seq        tokens per sequence (default 256)\n"
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
      std::printf("%s", kUsage);
      return false;
    } else if (arg == "--preset") {
      o.preset = value();
    } else if (arg == "--batch") {
      o.batch = parse_count(arg, value(), 1);
    } else if (arg == "--seq") {
      o.seq = parse_count(arg, value(), 1);
    } else if (arg == "--steps") {
      o.steps = parse_count(arg, value(), 1);
    } else if (arg == "--warmup") {
      o.warmup = parse_count(arg, value(), 0);
    } else if (arg == "--seed") {
      o.seed = uint64_t(parse_count(arg, value(), 0));
    } else if (arg == "--device") {
      const std::string d = value();
      if (d == "cpu")
        o.device = Device::CPU;
      else if (d == "cuda")
        o.device = Device::CUDA;
      else
        fail("--device must be cpu or cuda, got '", d, "'");
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

int run(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) return 0;
  const bool cuda = o.device == Device::CUDA;
  // Per-step lines go to stderr under --json, so stdout holds the JSON line alone.
  FILE* log = o.json ? stderr : stdout;

  Peak peak;
#ifdef NEFT_WITH_CUDA
  if (cuda) peak = cuda_peak();
#endif
  if (!cuda) peak = cpu_peak(0);

  const model::LlamaConfig config = model::resolve_config(o.preset);
  if (o.seq > config.max_positions)
    fail("--seq ", o.seq, " exceeds max_position_embeddings ", config.max_positions, " of ",
         config.name);
  const model::ModelOptions mopts{o.device, cuda ? DType::BF16 : DType::F32, o.recompute};
  model::LlamaModel m(config, mopts);
  m.init_random(o.seed);
  optim::AdamW opt(m.parameters(), kAdamW);
  // One micro-batch per step, as the PyTorch script runs it; each step sees new tokens.
  std::vector<data::Batch> batches;
  for (int64_t s = 0; s < o.warmup + o.steps; ++s)
    batches.push_back(random_batch(o.batch, o.seq, config.vocab, o.seed * 1000003 + uint64_t(s)));

  const FlopCount flops = flops_per_token(config, o.seq);
  const int threads = cuda ? 0 : omp_get_max_threads();
  std::fprintf(log,
               "neft_train_bench, preset %s: %.2fM parameters (%.2fM in matmuls), %s %s%s, "
               "batch %lld x seq %lld\n",
               config.name.c_str(), config.parameter_count() / 1e6, flops.matmul_params / 1e6,
               device_name(o.device), dtype_name(mopts.dtype), o.recompute ? ", recompute" : "",
               (long long)o.batch, (long long)o.seq);
  if (!cuda)
    std::fprintf(log, "  OpenMP threads %d; BLAS: %s, %d threads\n", threads, openblas_get_config(),
                 openblas_get_num_threads());
  std::fprintf(log, "  peak compute: %s\n", peak.flops_note.c_str());

  for (int64_t s = 0; s < o.warmup; ++s) timed_step(m, opt, batches[size_t(s)]);
  const double tokens_per_step = double(o.batch * o.seq);
  std::vector<double> step_ms;
  for (int64_t s = 0; s < o.steps; ++s) {
    const data::Batch& b = batches[size_t(o.warmup + s)];
    const auto t0 = std::chrono::steady_clock::now();
    const double loss = timed_step(m, opt, b);
    step_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    std::fprintf(log, "step %lld/%lld: %.1f ms, %.0f tokens/s, loss %.4f\n", (long long)(s + 1),
                 (long long)o.steps, step_ms.back(), tokens_per_step / step_ms.back() * 1e3, loss);
  }

  const double median_ms = median(step_ms);
  std::vector<double> step_ms_rounded;
  for (double ms : step_ms) step_ms_rounded.push_back(round_to(ms, 3));
  const double tokens_per_s = tokens_per_step / median_ms * 1e3;
  const double gflops = double(flops.per_token) * tokens_per_s / 1e9;
  const double mfu = gflops * 1e9 / peak.flops;
  const MemoryReport mem = memory_report(m, opt);
  std::fprintf(log,
               "median step %.1f ms, %.0f tokens/s, %.1f MFLOP/token, %.1f GFLOP/s, "
               "MFU %.1f%% of %.0f GFLOP/s\n",
               median_ms, tokens_per_s, flops.per_token / 1e6, gflops, 100.0 * mfu,
               peak.flops / 1e9);
  std::fprintf(log,
               "memory: parameters %s, gradients %s, optimizer state %s, activations %s, "
               "peak allocated %s\n",
               mib(mem.parameters).c_str(), mib(mem.gradients).c_str(), mib(mem.optimizer).c_str(),
               mib(mem.activations).c_str(), mib(mem.peak).c_str());

  if (o.json) {
    const nlohmann::json j = {
        {"framework", "neft"},
        {"preset", config.name},
        {"tokens_per_s", round_to(tokens_per_s, 1)},
        {"step_ms_median", round_to(median_ms, 3)},
        {"step_ms", step_ms_rounded},
        {"flops_per_token", flops.per_token},
        {"gflops", round_to(gflops, 2)},
        {"mfu", mfu},
        {"peak_gflops", round_to(peak.flops / 1e9, 1)},
        {"device", device_name(o.device)},
        {"dtype", dtype_name(mopts.dtype)},
        {"recompute", o.recompute},
        {"batch", o.batch},
        {"seq", o.seq},
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
  try {
    return neft::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "neft_train_bench: %s\n", e.what());
    return 1;
  }
}
